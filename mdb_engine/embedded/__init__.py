"""mdb_engine.embedded"""
