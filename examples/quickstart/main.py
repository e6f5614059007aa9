from pathlib import Path
from fastapi import FastAPI
from mdb_engine import MongoDBEngine

app = FastAPI()
engine = MongoDBEngine(mongo_uri="mongodb://localhost:27017", db_name="my_database")

@app.on_event("startup")
async def startup():
    await engine.initialize()

    # Load and register app from manifest
    manifest_path = Path("manifest.json")
    manifest = await engine.load_manifest(manifest_path)
    await engine.register_app(manifest, create_indexes=True)

# 3. Use the Scoped Database
@app.post("/tasks")
async def create_task(task: dict):
    # This DB instance is physically and logically sandboxed to 'my_app'
    db = engine.get_scoped_db("my_app")

    # Auto-tagged with app_id; indexes auto-managed
    result = await db.tasks.insert_one(task)
    return {"id": str(result.inserted_id)}
