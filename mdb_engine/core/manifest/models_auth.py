"""The ``auth`` part of the manifest: the authorization policy and the app's own users."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from mdb_engine.core.manifest.fields import (
    CollectionName,
    EmailAddress,
    ManifestModel,
    NonEmptyStr,
    Violation,
    rule_error,
    rule_violations,
)

__all__ = [
    "AuthConfig",
    "AuthPolicy",
    "AuthorizationConfig",
    "DemoUser",
    "PolicyRule",
    "RoleAssignment",
    "UsersConfig",
]

BUILTIN_CASBIN_MODELS = ("rbac", "acl")


def _check_rule_length(value: Any) -> Any:
    # Checked before the items so that the message can name the three parts.
    if isinstance(value, list) and len(value) != 3:
        raise rule_error(
            f"a policy rule is [subject, resource, action], got {len(value)} items",
            'e.g. ["admin", "tasks", "write"]',
        )
    return value


PolicyRule = Annotated[
    list[NonEmptyStr],
    Field(min_length=3, max_length=3, description="A policy rule: [subject, resource, action]."),
    BeforeValidator(_check_rule_length),
]


class RoleAssignment(ManifestModel):
    """A role given to a user when the app is first registered."""

    user: NonEmptyStr = Field(
        description="The subject given the role, such as an app user's email."
    )
    role: NonEmptyStr = Field(description="The role given to the user.")


class AuthorizationConfig(ManifestModel):
    """How the authorization provider is built: model, policy storage and initial grants."""

    model: NonEmptyStr = Field(
        default="rbac",
        description="'rbac', 'acl', or a path to a Casbin model .conf file.",
    )
    policies_collection: CollectionName = Field(
        default="casbin_policies",
        description="The app's collection that holds the Casbin rules, one document per rule.",
    )
    link_users_roles: bool = Field(
        default=False,
        description="Whether each new app user (signed up or demo) gets the default_roles.",
    )
    default_roles: list[NonEmptyStr] = Field(
        default=[], description="The roles new app users get when link_users_roles is true."
    )
    initial_roles: list[RoleAssignment] = Field(
        default=[],
        description="Roles granted once, when the app has no rules yet (Casbin, a model with "
        "roles).",
    )
    initial_policies: list[PolicyRule] = Field(
        default=[],
        description="Casbin rules stored once, when the app has no rules yet.",
    )
    polar: str | None = Field(default=None, description="Polar rules inline (oso provider).")
    polar_file: str | None = Field(default=None, description="A .polar file (oso provider).")

    @model_validator(mode="after")
    def _check_sources(self) -> AuthorizationConfig:
        violations: list[Violation] = []
        if self.model not in BUILTIN_CASBIN_MODELS and not self.model.endswith(".conf"):
            violations.append(
                (
                    ("model",),
                    f"unknown authorization model {self.model!r}",
                    "use 'rbac', 'acl' or the path of a Casbin model file ending in '.conf'",
                    self.model,
                )
            )
        if self.polar is not None and self.polar_file is not None:
            violations.append(
                (
                    ("polar_file",),
                    "'polar' and 'polar_file' cannot both be given",
                    "keep the inline rules or the file, not both",
                    self.polar_file,
                )
            )
        if violations:
            raise rule_violations(type(self).__name__, violations)
        return self


class AuthPolicy(ManifestModel):
    """Whether the app requires login, and which authorization provider guards it."""

    provider: Literal["casbin", "oso", "custom"] = Field(
        default="casbin",
        description="The authorization provider the engine builds; with 'custom' it builds none "
        "and the app sets its own on app.state.authz_provider.",
    )
    required: bool = Field(
        default=False,
        description="Whether users must log in: the app then needs a signing secret, and its "
        "WebSocket endpoints without their own auth refuse clients without a token.",
    )
    allow_anonymous: bool = Field(
        default=True,
        description="Whether clients without a token are admitted where login is not required: "
        "false makes the app's WebSocket endpoints without their own auth block ask for a "
        "token. Schema 1.0's auth_required sets it to the opposite.",
    )
    authorization: AuthorizationConfig | None = None


class DemoUser(ManifestModel):
    """A user created at registration time, for demos and development.

    A manifest gives the ``password``; the engine replaces it by its Argon2 ``password_hash``
    when it registers the app, so that the plain password is stored nowhere.
    """

    email: EmailAddress = Field(description="The email the user logs in with.")
    password_hash: str | None = Field(
        default=None,
        pattern=r"^\$argon2(id|i|d)\$",
        description="Set by the engine in its registry; write 'password' in a manifest.",
    )
    # Validated even when absent, so that a missing password is reported with the others.
    password: NonEmptyStr | None = Field(
        default=None,
        validate_default=True,
        description="The user's password; the engine stores only its hash.",
    )
    roles: list[NonEmptyStr] = Field(
        default=[],
        description="Roles stored on the user and, when it is created, granted in Casbin.",
    )
    name: str | None = Field(default=None, description="The user's display name.")

    @field_validator("password")
    @classmethod
    def _check_password(cls, password: str | None, info: ValidationInfo) -> str | None:
        has_hash = info.data.get("password_hash") is not None
        if password is None and not has_hash:
            raise PydanticCustomError("missing", "Field required")
        if password is not None and has_hash:
            raise rule_error(
                "give 'password' or 'password_hash', not both", "write only 'password'"
            )
        return password


class UsersConfig(ManifestModel):
    """The app's own users (sign-up, login) or anonymous sessions."""

    enabled: bool = Field(
        default=False,
        description="Whether the app has its own users: setup_auth_from_manifest then mounts "
        "the /auth routes.",
    )
    strategy: Literal["app_users", "anonymous_session"] = Field(
        default="app_users",
        description="'app_users': accounts with email and password; 'anonymous_session': each "
        "visitor gets a session, with no accounts.",
    )
    allow_registration: bool = Field(
        default=True, description="Whether POST /auth/register creates accounts (403 if not)."
    )
    collection: CollectionName = Field(
        default="users",
        description="The app's collection that holds its users (app_users strategy).",
    )
    demo_users: list[DemoUser] = Field(
        default=[],
        description="Users created at registration when missing (app_users strategy).",
    )


class AuthConfig(ManifestModel):
    """Authentication and authorization settings of the app."""

    policy: AuthPolicy | None = None
    users: UsersConfig | None = None
