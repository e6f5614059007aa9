from fastapi import FastAPI, Depends
from mdb_runtime import RuntimeEngine
from mdb_runtime.database import AppDB

app = FastAPI()
engine = RuntimeEngine(mongo_uri="mongodb://localhost:27017", db_name="cluster0")

@app.on_event("startup")
async def startup():
    await engine.initialize()
    # Auto-discovers manifest, creates indexes, sets up auth
    await engine.register_app("manifest.json")

# 3. Use the Scoped Database
@app.post("/tasks")
async def create_task(task: dict):
    # This DB instance is physically and logically sandboxed to 'task_manager'
    db = engine.get_scoped_db("task_manager")
    
    # Auto-tagged with app_id; indexes auto-managed
    result = await db.tasks.insert_one(task)
    return {"id": str(result.inserted_id)}
