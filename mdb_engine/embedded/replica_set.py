"""Replica-set commands that make a local mongod a single-node, writable primary."""

from __future__ import annotations

import logging
from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure

__all__ = ["server_pid", "step_towards_primary"]

logger = logging.getLogger(__name__)

_ALREADY_INITIALIZED = 23
_NOT_YET_INITIALIZED = 94


def server_pid(client: MongoClient[dict[str, Any]]) -> int:
    """The process id of the mongod that ``client`` is connected to."""
    pid: int = client.admin.command("serverStatus", repl=0, metrics=0)["pid"]
    return pid


def step_towards_primary(client: MongoClient[dict[str, Any]], host: str, name: str) -> bool:
    """Initiate or re-home the replica set as needed; True once mongod is a writable primary."""
    if client.admin.command("hello").get("isWritablePrimary"):
        return True
    try:
        config = client.admin.command("replSetGetConfig")["config"]
    except OperationFailure as exc:
        if exc.code != _NOT_YET_INITIALIZED:
            raise
        try:
            client.admin.command(
                "replSetInitiate", {"_id": name, "members": [{"_id": 0, "host": host}]}
            )
        except OperationFailure as initiate_exc:
            if initiate_exc.code != _ALREADY_INITIALIZED:
                raise
        return False
    members = config["members"]
    if [member["host"] for member in members] != [host]:
        # A kept data dir restarted on another port still names the old host:port.
        logger.info("moving replica set %r from %s to %s", name, members[0]["host"], host)
        config["members"] = [{**members[0], "host": host}]
        config["version"] += 1
        client.admin.command("replSetReconfig", config, force=True)
    return False
