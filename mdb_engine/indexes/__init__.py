"""mdb_engine.indexes"""
