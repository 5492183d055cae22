#!/usr/bin/env bash
# azd post-provision hook: create the RS256 signing key in Key Vault when it is missing, then
# print its public key (PEM, JWK and .NET RSAKeyValue XML) for the team that ships it with
# the FinOps module.
#
# azd passes AZURE_KEY_VAULT_NAME, LICENSING_SIGNING_KEY_NAME and LICENSING_SIGNING_KEY_KIND
# from the outputs of infra/main.bicep. The Azure CLI must be signed in as the principal that
# ran azd, which has the role Key Vault Secrets Officer (kind secret) or Crypto Officer (kind
# key) on the vault. Python needs requirements.txt installed; `make venv` does that in .venv.
#
# An existing key is never replaced: rotation is a manual step, described in README.md.
set -euo pipefail

cd "$(dirname -- "${BASH_SOURCE[0]}")/../.."

vault="${AZURE_KEY_VAULT_NAME:?is not set: run this hook through azd provision}"
name="${LICENSING_SIGNING_KEY_NAME:?is not set: run this hook through azd provision}"
kind="${LICENSING_SIGNING_KEY_KIND:-secret}"

if [[ $kind != secret && $kind != key ]]; then
    echo "error: LICENSING_SIGNING_KEY_KIND '$kind' is invalid: use secret or key" >&2
    exit 1
fi

python=.venv/bin/python
if [[ ! -x $python ]]; then
    python=python3
fi

if ! command -v az >/dev/null; then
    echo "error: the Azure CLI (az) is required: install it and run az login" >&2
    exit 1
fi

# A private key exists on this machine only inside this folder, readable by its owner only.
umask 077
work="$(mktemp -d)"
trap 'rm -rf -- "$work"' EXIT
private_key="$work/signing-key.pem"
public_key="$work/public-key.pem"

# Print "present" or "missing". New role assignments can take minutes to reach Key Vault, so
# a denied request is retried for up to 5 minutes.
key_state() {
    local attempt output
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        if output="$(az keyvault "$kind" show --vault-name "$vault" --name "$name" \
            --query id --output tsv 2>&1)"; then
            echo present
            return 0
        fi

        case "$output" in
        *SecretNotFound* | *KeyNotFound*)
            echo missing
            return 0
            ;;
        *Forbidden*)
            echo "Key Vault $vault denied access (attempt $attempt of 10), retrying in 30 s" >&2
            sleep 30
            ;;
        *)
            echo "$output" >&2
            return 1
            ;;
        esac
    done

    echo "error: Key Vault $vault still denies access: check the role assignments of the" \
        "signed-in principal in infra/app/roles.bicep" >&2
    return 1
}

# Explain a failed create. A deleted key or secret of the same name blocks a new one until it
# is recovered, and purge protection forbids purging it.
report_create_error() {
    case "$1" in
    *ObjectIsDeletedButRecoverable* | *"deleted but recoverable"*)
        echo "error: a deleted $kind named $name is still recoverable in $vault: recover it" \
            "with 'az keyvault $kind recover --vault-name $vault --name $name', then run" \
            "azd provision again" >&2
        ;;
    *)
        echo "$1" >&2
        ;;
    esac
}

# Generate the key locally, store it as a PEM secret, keep only its public key here.
create_secret() {
    local output
    "$python" -m licensing keys generate --out "$private_key"

    if ! output="$(az keyvault secret set --vault-name "$vault" --name "$name" \
        --file "$private_key" --encoding utf-8 --content-type application/x-pem-file \
        --output none 2>&1)"; then
        report_create_error "$output"
        return 1
    fi

    "$python" -m licensing keys export --key "$private_key" --format pem >"$public_key"
    rm -f -- "$private_key"
    echo "Stored a new 3072-bit signing key as secret $name in Key Vault $vault."
}

# Create the RSA key inside Key Vault, where its private part stays.
create_vault_key() {
    local output
    if ! output="$(az keyvault key create --vault-name "$vault" --name "$name" \
        --kty RSA --size 3072 --ops sign verify --output none 2>&1)"; then
        report_create_error "$output"
        return 1
    fi

    echo "Created a new 3072-bit RSA key $name in Key Vault $vault."
}

# Write the public key of the newest version to $public_key.
read_public_key() {
    if [[ $kind == key ]]; then
        az keyvault key download --vault-name "$vault" --name "$name" \
            --file "$public_key" --encoding PEM
        return 0
    fi

    az keyvault secret download --vault-name "$vault" --name "$name" \
        --file "$private_key" --encoding utf-8
    "$python" -m licensing keys export --key "$private_key" --format pem >"$public_key"
    rm -f -- "$private_key"
}

state="$(key_state)"
if [[ $state == present ]]; then
    echo "Key Vault $vault already holds the signing $kind $name; it was left unchanged."
elif [[ $kind == secret ]]; then
    create_secret
else
    create_vault_key
fi

if [[ ! -s $public_key ]]; then
    read_public_key
fi

# The newest version is not the signing one while a rotation is staged. Then
# `python -m licensing keys export` without --key lists every version with its role.
echo
echo "Public key of the newest version of $name, to pin in the FinOps module."
echo "The module must never fetch it from the service."
echo
echo "PEM (SubjectPublicKeyInfo):"
"$python" -m licensing keys export --key "$public_key" --format pem
echo
echo "JWK (kid is the RFC 7638 thumbprint):"
"$python" -m licensing keys export --key "$public_key" --format jwk
echo
echo "RSAKeyValue XML for .NET RSA.FromXmlString:"
"$python" -m licensing keys export --key "$public_key" --format xml
