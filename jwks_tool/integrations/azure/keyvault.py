"""Compatibility module, to be removed: the old names of ``keyvault``, now in three modules.

Import from :mod:`~jwks_tool.integrations.azure.connection` (vault, credential, SDK clients, errors),
:mod:`~jwks_tool.integrations.azure.secrets` (pushing and comparing secrets) and
:mod:`~jwks_tool.integrations.azure.vault_keys` (keys inside the vault and their signer). This module goes once the
CLI and the services import from those (issue #11).
"""

from jwks_tool.integrations.azure.connection import MAX_SECRET_BYTES as MAX_SECRET_BYTES
from jwks_tool.integrations.azure.connection import SECRET_NAME_RE as SECRET_NAME_RE
from jwks_tool.integrations.azure.connection import Connection as Connection
from jwks_tool.integrations.azure.connection import Credential as Credential
from jwks_tool.integrations.azure.connection import azure_errors as azure_errors
from jwks_tool.integrations.azure.connection import call as call
from jwks_tool.integrations.azure.connection import client_kwargs as client_kwargs
from jwks_tool.integrations.azure.connection import key_client as key_client
from jwks_tool.integrations.azure.connection import make_credential as make_credential
from jwks_tool.integrations.azure.connection import normalise_vault_url as normalise_vault_url
from jwks_tool.integrations.azure.connection import secret_client as secret_client
from jwks_tool.integrations.azure.secrets import CONTENT_TYPE_JWK as CONTENT_TYPE_JWK
from jwks_tool.integrations.azure.secrets import PACING_MARGIN as PACING_MARGIN
from jwks_tool.integrations.azure.secrets import SECRET_WRITES_PER_10S as SECRET_WRITES_PER_10S
from jwks_tool.integrations.azure.secrets import PlannedSecret as PlannedSecret
from jwks_tool.integrations.azure.secrets import Preset as Preset
from jwks_tool.integrations.azure.secrets import PushOutcome as PushOutcome
from jwks_tool.integrations.azure.secrets import SecretStatus as SecretStatus
from jwks_tool.integrations.azure.secrets import WindowLimiter as WindowLimiter
from jwks_tool.integrations.azure.secrets import current_secret as current_secret
from jwks_tool.integrations.azure.secrets import plan as plan
from jwks_tool.integrations.azure.secrets import push as push
from jwks_tool.integrations.azure.secrets import push_many as push_many
from jwks_tool.integrations.azure.secrets import secret_names as secret_names
from jwks_tool.integrations.azure.secrets import status as status
from jwks_tool.integrations.azure.vault_keys import VaultSigner as VaultSigner
from jwks_tool.integrations.azure.vault_keys import check_key_name as check_key_name
from jwks_tool.integrations.azure.vault_keys import create_vault_key as create_vault_key
from jwks_tool.integrations.azure.vault_keys import disable_key_version as disable_key_version
from jwks_tool.integrations.azure.vault_keys import push_as_key as push_as_key
from jwks_tool.integrations.azure.vault_keys import split_key_id as split_key_id
from jwks_tool.integrations.azure.vault_keys import vault_key_name as vault_key_name

Outcome = PushOutcome
