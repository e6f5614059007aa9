"""mdb_engine.testing"""
