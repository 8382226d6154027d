"""The MongoDB implementation of the storage interface (pymongo), chosen for ``mongodb://`` URLs.

Collections, with integer ids from a ``counters`` collection so that ids look the same as in SQL:

- ``users``: unique indexes on ``username`` and ``email`` decide registration races (DuplicateKeyError
  becomes UsernameTaken or EmailTaken, so two registrations at once give one account and one 409);
- ``face_templates``: ``_id`` is the user id (one template per user), the AES-GCM ciphertext as
  BSON binary with its key id: the same encrypted bytes the SQL backends store;
- ``apps``, ``audit_events`` (indexed by user and time), ``revoked_tokens`` (``_id`` is the jti; a
  TTL index lets MongoDB drop them once expired).

MongoDB has no foreign keys, so ``delete_user`` cascades explicitly: the template, the apps, then the
personal linkage of the audit events, then the user. Without a replica set there are no multi-document
transactions: each step is atomic on its own, and a deletion interrupted half-way is completed by
deleting again (the user document goes last, so it is still there to retry)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError
from pymongo.uri_parser import parse_uri

from faceauth.config import Settings
from faceauth.domain import App, EmailTaken, NotFound, User, UsernameTaken
from faceauth.storage.interface import AuditEvent, StoredTemplate
from faceauth.storage.timestamps import as_utc

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = "faceauth"
Document = dict[str, Any]


def utcnow() -> datetime:
    # BSON dates have millisecond precision: round here so that what we return is what we stored.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class MongoStorage:
    def __init__(self, client: MongoClient[Document], database: str = DEFAULT_DATABASE) -> None:
        self.client = client
        self.db: Database[Document] = client[database]
        self.users: Collection[Document] = self.db["users"]
        self.templates: Collection[Document] = self.db["face_templates"]
        self.apps: Collection[Document] = self.db["apps"]
        self.events: Collection[Document] = self.db["audit_events"]
        self.revoked: Collection[Document] = self.db["revoked_tokens"]
        self.counters: Collection[Document] = self.db["counters"]

    @classmethod
    def from_url(cls, url: str) -> MongoStorage:
        """``mongodb://host:27017/faceauth``: the database named in the path (default ``faceauth``)."""
        database = parse_uri(url).get("database") or DEFAULT_DATABASE
        client: MongoClient[Document] = MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=10_000)
        return cls(client, database)

    def close(self) -> None:
        self.client.close()

    def prepare_schema(self, settings: Settings) -> None:
        """Creates the indexes (idempotent); MongoDB needs no migrations for these collections."""
        self.users.create_index([("username", ASCENDING)], unique=True, name="uq_users_username")
        self.users.create_index([("email", ASCENDING)], unique=True, name="uq_users_email")
        self.templates.create_index([("key_id", ASCENDING)], name="ix_face_templates_key_id")
        self.apps.create_index([("user_id", ASCENDING), ("_id", ASCENDING)], name="ix_apps_user_id")
        self.events.create_index([("user_id", ASCENDING), ("_id", DESCENDING)], name="ix_audit_user_id")
        self.revoked.create_index("expires_at", expireAfterSeconds=0, name="ttl_revoked_tokens")

    def _next_id(self, sequence: str) -> int:
        counter = self.counters.find_one_and_update(
            {"_id": sequence}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        assert counter is not None
        return int(counter["value"])

    # --- users ------------------------------------------------------------------------------

    def create_user(self, *, name: str, username: str, email: str, phone: str, password_hash: str) -> User:
        document: Document = {
            "_id": self._next_id("users"),
            "name": name,
            "username": username,
            "email": email,
            "phone": phone,
            "password_hash": password_hash,
            "created_at": utcnow(),
        }
        try:
            self.users.insert_one(document)
        except DuplicateKeyError as error:
            raise self._taken(error, username) from error
        return _user(document)

    def _taken(self, error: DuplicateKeyError, username: str) -> UsernameTaken | EmailTaken:
        """Which unique index refused the insert: the server names it in ``keyPattern``."""
        key_pattern = (error.details or {}).get("keyPattern") or {}
        if "username" in key_pattern:
            return UsernameTaken()
        if "email" in key_pattern:
            return EmailTaken()
        taken = self.users.find_one({"username": username}, {"_id": 1}) is not None
        return UsernameTaken() if taken else EmailTaken()

    def get_user(self, user_id: int) -> User | None:
        document = self.users.find_one({"_id": user_id})
        return _user(document) if document is not None else None

    def find_user_by_login(self, login: str) -> User | None:
        login = login.strip().lower()
        field = "email" if "@" in login else "username"
        document = self.users.find_one({field: login})
        return _user(document) if document is not None else None

    def delete_user(self, user_id: int) -> bool:
        """Explicit cascade; the user document goes last so an interrupted deletion can be retried."""
        if self.users.find_one({"_id": user_id}, {"_id": 1}) is None:
            return False
        self.templates.delete_one({"_id": user_id})
        self.apps.delete_many({"user_id": user_id})
        self.events.update_many({"user_id": user_id}, {"$set": {"user_id": None, "client": None}})
        return self.users.delete_one({"_id": user_id}).deleted_count > 0

    def count_users(self) -> int:
        return int(self.users.count_documents({}))

    # --- face templates ---------------------------------------------------------------------

    def save_template(self, user_id: int, ciphertext: bytes, key_id: str, frames_used: int) -> None:
        if self.users.find_one({"_id": user_id}, {"_id": 1}) is None:
            raise NotFound("no such user")
        now = utcnow()
        self.templates.update_one(
            {"_id": user_id},
            {
                "$set": {
                    "template": ciphertext,
                    "key_id": key_id,
                    "frames_used": frames_used,
                    "updated_at": now,
                },
                "$setOnInsert": {"created_at": now},
            },
            upsert=True,
        )

    def get_template(self, user_id: int) -> StoredTemplate | None:
        document = self.templates.find_one({"_id": user_id})
        return _template(document) if document is not None else None

    def has_template(self, user_id: int) -> bool:
        return self.templates.find_one({"_id": user_id}, {"_id": 1}) is not None

    def delete_template(self, user_id: int) -> bool:
        return self.templates.delete_one({"_id": user_id}).deleted_count > 0

    def templates_not_under(self, key_id: str, after_user_id: int, limit: int) -> list[StoredTemplate]:
        cursor = (
            self.templates.find({"key_id": {"$ne": key_id}, "_id": {"$gt": after_user_id}})
            .sort("_id", ASCENDING)
            .limit(limit)
        )
        return [_template(document) for document in cursor]

    def replace_template_ciphertext(
        self, user_id: int, expected: bytes, ciphertext: bytes, key_id: str
    ) -> bool:
        result = self.templates.update_one(
            {"_id": user_id, "template": expected}, {"$set": {"template": ciphertext, "key_id": key_id}}
        )
        return result.modified_count == 1

    # --- apps -------------------------------------------------------------------------------

    def add_app(self, user_id: int, name: str, url: str | None, description: str | None) -> App:
        document: Document = {
            "_id": self._next_id("apps"),
            "user_id": user_id,
            "name": name,
            "url": url,
            "description": description,
            "created_at": utcnow(),
        }
        self.apps.insert_one(document)
        return _app(document)

    def list_apps(self, user_id: int) -> list[App]:
        return [_app(document) for document in self.apps.find({"user_id": user_id}).sort("_id", ASCENDING)]

    def get_app(self, user_id: int, app_id: int) -> App | None:
        document = self.apps.find_one({"_id": app_id, "user_id": user_id})
        return _app(document) if document is not None else None

    def delete_app(self, user_id: int, app_id: int) -> bool:
        return self.apps.delete_one({"_id": app_id, "user_id": user_id}).deleted_count > 0

    # --- revoked tokens ---------------------------------------------------------------------

    def revoke_token(self, jti: str, expires_at: datetime) -> None:
        self.revoked.update_one({"_id": jti}, {"$setOnInsert": {"expires_at": expires_at}}, upsert=True)

    def is_token_revoked(self, jti: str) -> bool:
        return self.revoked.find_one({"_id": jti}, {"_id": 1}) is not None

    def purge_expired_revocations(self, now: datetime | None = None) -> int:
        """The TTL index does this within a minute or so; this makes it immediate."""
        return int(self.revoked.delete_many({"expires_at": {"$lt": now or utcnow()}}).deleted_count)

    # --- audit log --------------------------------------------------------------------------

    def record_event(
        self,
        kind: str,
        *,
        success: bool,
        user_id: int | None = None,
        client: str | None = None,
        score: float | None = None,
        detail: str | None = None,
    ) -> None:
        self.events.insert_one(
            {
                "_id": self._next_id("audit_events"),
                "created_at": utcnow(),
                "kind": kind,
                "success": success,
                "user_id": user_id,
                "client": client[:100] if client else None,
                "score": score,
                "detail": detail[:500] if detail else None,
            }
        )

    def list_events(self, user_id: int | None = None, limit: int = 100) -> list[AuditEvent]:
        query: Document = {} if user_id is None else {"user_id": user_id}
        cursor = self.events.find(query).sort("_id", DESCENDING).limit(limit)
        return [
            AuditEvent(
                id=int(document["_id"]),
                created_at=as_utc(document["created_at"]),
                kind=document["kind"],
                success=bool(document["success"]),
                user_id=document.get("user_id"),
                client=document.get("client"),
                score=document.get("score"),
                detail=document.get("detail"),
            )
            for document in cursor
        ]


def _user(document: Document) -> User:
    return User(
        id=int(document["_id"]),
        name=document["name"],
        username=document["username"],
        email=document["email"],
        phone=document["phone"],
        password_hash=document["password_hash"],
        created_at=as_utc(document["created_at"]),
    )


def _template(document: Document) -> StoredTemplate:
    return StoredTemplate(
        user_id=int(document["_id"]),
        ciphertext=bytes(document["template"]),
        key_id=document["key_id"],
        frames_used=int(document["frames_used"]),
        created_at=as_utc(document["created_at"]),
        updated_at=as_utc(document["updated_at"]),
    )


def _app(document: Document) -> App:
    return App(
        id=int(document["_id"]),
        user_id=int(document["user_id"]),
        name=document["name"],
        url=document.get("url"),
        description=document.get("description"),
        created_at=as_utc(document["created_at"]),
    )
