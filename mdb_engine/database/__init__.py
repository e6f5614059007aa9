"""mdb_engine.database"""
