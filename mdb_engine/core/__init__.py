"""mdb_engine.core"""
