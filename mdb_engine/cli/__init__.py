"""mdb_engine.cli"""
