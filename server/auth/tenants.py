"""Tenants: one `parac serve` for several teams, each credential mapped to one team's workspace.

`--tenants FILE` (YAML) lists the tenants, each with its workspace (a directory holding `.parac/`; relative paths
start at the file's folder) and the credentials that are its own:

    tenants:
      acme:
        workspace: ../acme
        tokens: [acme-ci]              # names of `parac token` tokens
        jwt_subjects: [alice@acme.example]
        jwt_claims: {org: acme}        # a JWT whose claim has this value
        hmac_keys: [acme-signer]       # key ids of serve.hmac_keys

The authentication layer sets `Caller.tenant` from it, and `workspace_of(tenant)` is the workspace a request is
served from: runs, costs, budgets, policies and the audit trail are that workspace's, so another tenant's run ids are
unknown there (404) and its burst spends its own budget. With a tenants file, a credential no tenant claims is
refused. The file is checked whole before the server starts: unknown keys, a missing workspace, two tenants on one
workspace or one credential in two tenants are reported as FILE:LINE:COL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parac.core.diagnostics import Diagnostic

from .gate import AuthConfigError
from .roles import Caller


class TenantsError(AuthConfigError):
    """The tenants file cannot be used; its diagnostics say where."""


class _Tenant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace: str = Field(description="The tenant's project directory (holding .parac/).")
    tokens: list[str] = Field(default_factory=list, description="`parac token` names.")
    jwt_subjects: list[str] = Field(default_factory=list, description="JWT `sub` values.")
    jwt_claims: dict[str, str] = Field(default_factory=dict, description="A JWT with any of these claim values.")
    hmac_keys: list[str] = Field(default_factory=list, description="HMAC key ids.")


class _TenantsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenants: dict[str, _Tenant] = Field(min_length=1)


@dataclass(frozen=True)
class Tenants:
    """Credential → tenant, and tenant → workspace root."""

    workspaces: dict[str, Path]
    by_credential: dict[tuple[str, str], str]  # ("token", name), ("jwt", sub), ("hmac", key id) → tenant
    by_claim: dict[tuple[str, str], str]  # (claim, value) → tenant

    def tenant_of(self, caller: Caller, claims: dict[str, Any] | None = None) -> str | None:
        """The tenant whose credential `caller` presented, or None when no tenant claims it."""
        if caller.name is not None and (found := self.by_credential.get((caller.kind, caller.name))):
            return found
        for (claim, value), tenant in self.by_claim.items():
            if claims is not None and claims.get(claim) == value:
                return tenant
        return None

    def workspace_of(self, tenant: str) -> Path:
        return self.workspaces[tenant]


def load_tenants(path: Path) -> Tenants:
    """Read and check the tenants file; raises TenantsError with every problem found, each at its place."""
    from parac.core.roots import PARAC_DIR
    from parac.core.sources import load_source
    from parac.core.validation import schema_diagnostics

    doc = load_source(path)
    if not doc.ok:
        raise TenantsError(f"{path}: cannot read the tenants file", doc.diagnostics)
    try:
        parsed = _TenantsFile.model_validate(doc.data)
    except ValidationError as error:
        raise TenantsError(f"{path}: not a valid tenants file", schema_diagnostics(_TenantsFile, error, doc)) from None
    problems: list[Diagnostic] = []
    workspaces: dict[str, Path] = {}
    claimed: dict[tuple[str, str], str] = {}
    claims: dict[tuple[str, str], str] = {}
    owners: dict[Path, str] = {}
    for name, tenant in parsed.tenants.items():
        where = ("tenants", name)
        root = (path.parent / Path(tenant.workspace).expanduser()).resolve()
        if not (root / PARAC_DIR).is_dir():
            problems.append(Diagnostic.at(path, doc.span((*where, "workspace")), "missing-workspace",
                                          f'tenant "{name}": {root} is not a parac workspace (no {PARAC_DIR}/)'))
        elif root in owners:
            problems.append(Diagnostic.at(path, doc.span((*where, "workspace")), "shared-workspace",
                                          f'tenant "{name}" has the workspace of tenant "{owners[root]}"; '
                                          "tenants are kept apart by their workspaces"))
        owners.setdefault(root, name)
        workspaces[name] = root
        lists = (("token", "tokens", tenant.tokens), ("jwt", "jwt_subjects", tenant.jwt_subjects),
                 ("hmac", "hmac_keys", tenant.hmac_keys))
        for kind, key, values in lists:
            for index, value in enumerate(values):
                _claim(claimed, (kind, value), name, doc.span((*where, key, index)), path, problems, f"{key} {value}")
        for claim, value in tenant.jwt_claims.items():
            _claim(claims, (claim, value), name, doc.span((*where, "jwt_claims", claim)), path, problems,
                   f"jwt_claims {claim}: {value}")
    if problems:
        raise TenantsError(f"{path}: not a valid tenants file", problems)
    return Tenants(workspaces, claimed, claims)


def _claim(table: dict[Any, str], key: Any, tenant: str, span: Any, path: Path, problems: list[Diagnostic],
           what: str) -> None:
    """Give `key` to `tenant`, or report that another tenant has it (a credential has one tenant)."""
    other = table.setdefault(key, tenant)
    if other != tenant:
        problems.append(Diagnostic.at(path, span, "duplicate-credential",
                                      f'{what} is already a credential of tenant "{other}"'))
