"""Azure Key Vault: connection and credentials, the secrets consumers read, vault-resident keys and their signer."""
