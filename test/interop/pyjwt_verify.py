"""Verifies a Tessera access token with Debian's python3-jwt (PyJWT), the way its
README says: PyJWKClient for the key, jwt.decode for the checks. Prints the
claims as JSON, or the error on stderr with exit status 1.

Usage: python3 pyjwt_verify.py <jwks_uri> <issuer> <audience> <alg> <token>
"""
import json
import sys

import jwt

jwks_uri, issuer, audience, alg, token = sys.argv[1:6]
try:
    signing_key = jwt.PyJWKClient(jwks_uri).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key.key, algorithms=[alg], audience=audience, issuer=issuer)
except jwt.PyJWTError as err:
    print(f"{type(err).__name__}: {err}", file=sys.stderr)
    sys.exit(1)
print(json.dumps(claims))
