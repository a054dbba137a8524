"""Every public exception of modelwarden, in one small hierarchy.

Each error carries `message` (what is wrong, naming the file or value) and, where there is one,
`next_step` (what to do about it). Library messages never name CLI commands: a front end adds its own
hint (the CLI maps every class to an exit code in one table, `modelwarden.cli._errors`; the gateway's
admin API maps the kinds below to HTTP statuses, docs/gateway.md "Admin API errors").

Two axes, kept apart:

- the *kind* of problem, which decides how a front end answers: `NotFoundError` (404),
  `ConflictError` (409), `ValidationError` (bad input or usage, 422), `ConfigurationError` (the
  operator's setup is wrong, 500), `UnavailableError` (a dependency is down, 503) and
  `VerificationFailed` (a verifier ran and found tampering: exit code 1, not 2);
- the *area* it comes from: `ArtifactError`, `ManifestError`, `RulesError`, `RegistryError`,
  `GatewayError`. An area's typed errors inherit from both (`GatewayNotFound` is a `GatewayError` and
  a `NotFoundError`), so `except GatewayError` still catches every gateway problem.
"""

from __future__ import annotations

from pathlib import Path


class ModelwardenError(Exception):
    """Base class: a problem we can explain to the user."""

    #: The CLI's exit status for this class (0 success, 1 a negative verdict, 2 could not run).
    #: `modelwarden.cli._errors.exit_code` is the one place that reads it.
    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, next_step: str | None = None) -> None:
        #: The file the problem is about, if any (already part of `message`).
        self.path = str(path) if path is not None else None
        #: What is wrong, prefixed with the file name when there is one.
        self.message = f"{self.path}: {message}" if self.path else message
        #: What to do next, in words that do not depend on the front end; None when obvious.
        self.next_step = next_step
        super().__init__(self.message)


# --- kinds -------------------------------------------------------------------------------------------


class NotFoundError(ModelwardenError):
    """The thing named (an identity, a key, an incident, an assessment, a file) does not exist."""


class ConflictError(ModelwardenError):
    """The request is well formed but clashes with the current state (a duplicate name, a key that is
    no longer active, a review already decided, a file that would be overwritten)."""


class ValidationError(ModelwardenError):
    """Bad input: a value, option or file content that cannot be accepted as given."""


class UsageError(ValidationError):
    """The command line asks for something that cannot be done (bad option, missing path)."""


class ConfigurationError(ModelwardenError):
    """The operator's setup is wrong or incomplete (a config file, a key file, a missing extra)."""


class UnavailableError(ModelwardenError):
    """A dependency (database, Redis, the audit log) cannot be reached now; retrying may succeed."""


class VerificationFailed(ModelwardenError):
    """A verifier ran to the end and found tampering or an invalid signature."""

    exit_code = 1


# --- areas ------------------------------------------------------------------------------------------


class ArtifactError(ModelwardenError):
    """A file could not be read as the format it claims or appears to be (truncated, corrupt, hostile)."""


class UnsupportedFormatError(ArtifactError):
    """No reader recognises the file's content."""


class ManifestError(ModelwardenError):
    """The release manifest (modelwarden.yaml) is missing a value, has a wrong type or an impossible one."""


class RulesError(ModelwardenError):
    """A rule file is malformed (bad YAML, unknown key, CEL that does not compile)."""


class RegistryError(ModelwardenError):
    """The registry database cannot be opened, migrated or written."""


class AssessmentNotFound(RegistryError, NotFoundError):
    """No assessment with that id (or no model with that name or id)."""


class InvalidAssessment(RegistryError, ValidationError):
    """An assessment the registry refuses to record: it could not be stored or read back faithfully."""


class GatewayError(ModelwardenError):
    """Base of every gateway problem; raise one of the typed subclasses below."""


class GatewayNotFound(GatewayError, NotFoundError):
    """No identity, key, review or incident with that reference (admin API: 404)."""


class GatewayConflict(GatewayError, ConflictError):
    """The gateway's state refuses the change (admin API: 409)."""


class GatewayInvalid(GatewayError, ValidationError):
    """A value or file given to the gateway is not acceptable (admin API: 422)."""


class GatewayMisconfigured(GatewayError, ConfigurationError):
    """gateway.yaml or a file it names (tiers, keys, salt, rules, classifier) is wrong (admin API: 500)."""


class GatewayUnavailable(GatewayError, UnavailableError):
    """The gateway's database or Redis cannot be reached (admin API: 503)."""


class LimiterUnavailable(GatewayUnavailable):
    """The shared limiter (Redis) cannot be reached and the fail policy is closed."""


class AuditUnavailable(GatewayUnavailable):
    """The audit log could not be written; the gateway refuses to serve without it."""


class AuditTampered(GatewayError, VerificationFailed):
    """`verify` found the audit chain, a checkpoint or an anchor altered."""


class BundleInvalid(GatewayError, VerificationFailed):
    """An incident bundle's hashes, inclusion proofs or signature do not check out."""


class TrustError(ModelwardenError):
    """Base of every signing, attestation and policy problem (src/modelwarden/trust/)."""


class TrustUnavailable(TrustError, ConfigurationError):
    """The signing extra (`model-signing`) is not installed, or key material cannot be used."""


class TrustInvalid(TrustError, ValidationError):
    """A key, certificate, signature file, attestation or policy cannot be read as what it should be."""


class TrustFailed(TrustError, VerificationFailed):
    """Verification ran to the end and at least one check failed (exit code 1)."""


class HubError(ModelwardenError):
    """Reading a repository from a Hugging Face hub over HTTP went wrong (modelwarden.hub)."""


class HubNotFound(HubError, NotFoundError):
    """The hub has no such repository, revision or file (or hides a gated one from this token)."""


class HubUnavailable(HubError, UnavailableError):
    """The hub did not answer usefully: unreachable, rate-limited past the retry budget, or a
    response that breaks the protocol (a Range answered with the whole file, a wrong Content-Range)."""
