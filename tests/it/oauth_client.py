"""The full OAuth 2.0 + OpenID Connect flow against strata with Authlib, a client library nobody
here wrote: authorization code with PKCE (the user logs in and consents through the pages),
id token checked against the JWKS, userinfo, the access token on the datasets API, a refresh that
rotates, and the reuse of the old refresh token revoking the whole family.

    python oauth_client.py <base-url> <client-id> <username> <password> <ns/name>
"""

import re
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

base, client_id, username, password, dataset = sys.argv[1:6]
redirect_uri = "http://127.0.0.1/callback"

# The user's browser: log in through the form.
browser = requests.Session()
page = browser.get(f"{base}/login")
csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
resp = browser.post(f"{base}/login", data={"csrf": csrf, "username": username, "password": password}, allow_redirects=False)
assert resp.status_code == 303, resp.text

client = OAuth2Session(
    client_id,
    redirect_uri=redirect_uri,
    scope=f"openid profile email dataset:{dataset}:read",
    code_challenge_method="S256",
    token_endpoint_auth_method="none",
)
verifier = generate_token(64)
nonce = generate_token(16)
url, state = client.create_authorization_url(f"{base}/oauth/authorize", code_verifier=verifier, nonce=nonce)

# Consent: the page's form, with "Allow".
consent = browser.get(url, allow_redirects=False)
assert consent.status_code == 200, consent.text
fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', consent.text))
fields = {k: v.replace("&amp;", "&").replace("&quot;", '"').replace("&#39;", "'") for k, v in fields.items()}
fields["decision"] = "allow"
answer = browser.post(f"{base}/oauth/authorize", data=fields, allow_redirects=False)
assert answer.status_code == 303, answer.text
location = answer.headers["location"]
assert location.startswith(redirect_uri), location

token = client.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
assert token["token_type"] == "Bearer" and "refresh_token" in token and "id_token" in token, token

# The id token, verified with the provider's published keys.
config = requests.get(f"{base}/.well-known/openid-configuration").json()
keys = JsonWebKey.import_key_set(requests.get(config["jwks_uri"]).json())
claims = jwt.decode(
    token["id_token"],
    keys,
    claims_options={"iss": {"essential": True, "value": config["issuer"]}, "aud": {"essential": True, "value": client_id}},
)
claims.validate()
assert claims["nonce"] == nonce and claims["preferred_username"] == username, claims

info = client.get(config["userinfo_endpoint"]).json()
assert info["preferred_username"] == username and "email" in info, info

# The access token works on the dataset it names.
resp = client.get(f"{base}/api/v1/datasets/{dataset}")
assert resp.status_code == 200, resp.text

# Refresh: new tokens, and the old refresh token is spent.
old = token
new = client.refresh_token(config["token_endpoint"], refresh_token=old["refresh_token"])
assert new["access_token"] != old["access_token"] and new["refresh_token"] != old["refresh_token"]
resp = requests.get(f"{base}/api/v1/datasets/{dataset}", headers={"Authorization": f"Bearer {new['access_token']}"})
assert resp.status_code == 200, resp.text

# Reusing the old refresh token is theft: the whole family is revoked.
reuse = requests.post(config["token_endpoint"], data={"grant_type": "refresh_token", "refresh_token": old["refresh_token"], "client_id": client_id})
assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant", reuse.text
resp = requests.get(f"{base}/api/v1/datasets/{dataset}", headers={"Authorization": f"Bearer {new['access_token']}"})
assert resp.status_code == 401, resp.text
again = requests.post(config["token_endpoint"], data={"grant_type": "refresh_token", "refresh_token": new["refresh_token"], "client_id": client_id})
assert again.status_code == 400, again.text
print("authlib flow ok")
