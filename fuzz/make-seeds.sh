#!/usr/bin/env bash
# Writes the seed corpora, fuzz/corpus/<target>/<name>.<ext>, from the spec's
# examples (/work/shared/spec: wire-protocol.md §3-§5, §9, §13;
# aws-cli-compat.md §3.4, §4.5, §5.2) and the tests' fixtures. The seeds are
# committed; rerun this after changing an input format and commit the result.
#
# Seeds always have an extension; the inputs libFuzzer adds are named by
# their SHA-1 with none, and fuzz/.gitignore ignores those.
#
# Input formats (see each harness's docs in fuzz/src/):
#   flow_response     byte setup, byte delay, then "STATUS\nname: value\n\nBODY"
#   flow_sequence     byte mode, then opcodes with operands (binary)
#   cache_files       the file's bytes
#   aws_config        the file's text
#   emulator_request  2 bytes time, byte priming/fault, byte fault parameter,
#                     then "METHOD TARGET\nname: value\n\nBODY"
#   auth_code_callback  byte mode, then opcodes with operands (binary)
set -euo pipefail
cd "$(dirname "$0")"

# seed TARGET NAME PREFIX TEXT: PREFIX is printf escapes (binary), TEXT is literal.
seed() {
  local dir="corpus/$1"
  mkdir -p "$dir"
  { printf "$3"; printf '%s' "$4"; } >"$dir/$2"
}

NS=http://internal.amazon.com/coral/com.amazonaws.sso.oidc/
JSON='content-type: application/json'
# error SHAPE STATUS BODY: a response head and body as the service sends errors (§9.1).
error() {
  printf '%s\n%s\nx-amzn-ErrorType: %s:%s\nx-amzn-RequestId: 9f0c1c0e-5f5e-4b9e-8f0e-1c7a2b3c4d5e\n\n%s' \
    "$2" "$JSON" "$1" "$NS" "$3"
}
ok() { printf '200\n%s\n\n%s' "$JSON" "$1"; }

rm -rf corpus
# ---------------------------------------------------------------- flow_response
# Setups (byte 0): 0 unregistered, 2 after four 500s, 3 registered (cache),
# 4 registered, 5 registered again, 6 pending, 7 after slow_down, 9 pending after
# registering again, 10 pending 5 s lifetime, 11 legacy, 12 authorized,
# 17 refresh, 18 refresh after a 503, 19 refresh after three failures.
# Delay (byte 1): low nibble indexes 0,1,4,5,6,29,30,59,60,599,600,601,3599,3600,3601,86400 s.
T=flow_response
seed $T register-ok-model-example.http '\x00\x00' "$(ok '{"clientId":"_yzkThXVzLWVhc3QtMQEXAMPLECLIENTID","clientIdIssuedAt":1579725929,"clientSecret":"VERYLONGSECRETeyJraWQiOiJrZXktMTU2NDAyODA5OSIsImFsZyI6IkhTMzg0In0","clientSecretExpiresAt":1587584729}')"
seed $T register-ok-after-retries.http '\x02\x01' "$(ok '{"clientId":"cid","clientSecret":"sec","clientSecretExpiresAt":4102444800}')"
seed $T register-slow-down.http '\x00\x00' "$(error SlowDownException 400 '{"error":"slow_down","error_description":"Too many requests"}')"
seed $T register-invalid-client-metadata.http '\x00\x00' "$(error InvalidClientMetadataException 400 '{"error":"invalid_client_metadata","error_description":"Invalid client type"}')"
seed $T start-ok-observed-2021.http '\x03\x00' "$(ok '{"deviceCode":"dGhpcyBpcyBhIHBsYWNlaG9sZGVyIGZvciBhbiA4Ni1jaGFyYWN0ZXIgZGV2aWNlIGNvZGUgZnJvbSB0aGUgc2VydmljZQ","expiresIn":600,"interval":1,"userCode":"PMPJ-VZCJ","verificationUri":"https://device.sso.us-west-2.amazonaws.com/","verificationUriComplete":"https://device.sso.us-west-2.amazonaws.com/?user_code=PMPJ-VZCJ"}')"
seed $T start-ok-model-example.http '\x04\x00' "$(ok '{"deviceCode":"devicecode","expiresIn":1579729529,"interval":1,"userCode":"makdfsk83yJraWQiOiJrZXktMTU2Njk2ODA4OCIsImFsZyI6IkhTMzIn0EXAMPLEUSERCODE","verificationUri":"https://device.sso.us-west-2.amazonaws.com","verificationUriComplete":"https://device.sso.us-west-2.amazonaws.com?user_code=makdfsk83yJraWQiOiJrZXktMTU2Njk2ODA4OCIsImFsZyI6IkhTMzIn0EXAMPLEUSERCODE"}')"
seed $T start-invalid-client-401.http '\x03\x00' "$(error InvalidClientException 401 '{"error":"invalid_client","error_description":"Invalid client secret"}')"
seed $T start-unauthorized-client-second-time.http '\x05\x00' "$(error UnauthorizedClientException 400 '{"error":"unauthorized_client"}')"
seed $T poll-token-smithy-fixture.http '\x06\x00' "$(ok '{"tokenType": "Bearer", "accessToken": "newtoken", "expiresIn": 28800, "refreshToken": "newrefreshtoken"}')"
seed $T poll-token-model-example.http '\x06\x00' "$(ok '{"accessToken":"aoal-YigITUDiNX1xZwOMXM5MxOWDL0E0jg9P6_C_jKQPxS_SKCP6f0kh1Up4g7TtvQqkMnD-GJiU_S1gvug6SxbtXc3ZPbwcBQ6i","expiresIn":1579729529,"refreshToken":"aorvJYubGpU6i91YnH7Mfo-AT2fIVa1zCfA_Rvq9yjVKIP3onFmmykuQ9m1hwUlqEAMPLEREFRESHTOKEN","tokenType":"Bearer"}')"
seed $T poll-authorization-pending-real.http '\x06\x00' "$(error AuthorizationPendingException 400 '{"error":"authorization_pending","error_description":"Authorization is still pending"}')"
seed $T poll-pending-body-only.http '\x06\x00' "$(printf '400\n%s\n\n%s' "$JSON" '{"error":"authorization_pending","error_description":"Authorization is still pending"}')"
seed $T poll-slow-down-hash-form.http '\x07\x00' "$(printf '400\nx-amzn-ErrorType: aws.protocols#SlowDownException:%s\n\n{"error":"slow_down"}' "$NS")"
seed $T poll-expired-token.http '\x06\x00' "$(error ExpiredTokenException 400 '{"error":"expired_token","error_description":"Device code has expired"}')"
seed $T poll-access-denied.http '\x06\x00' "$(error AccessDeniedException 400 '{"error":"access_denied","error_description":"Access denied"}')"
seed $T poll-access-denied-kms.http '\x06\x00' "$(error AccessDeniedException 400 '{"error":"access_denied","reason":"KMS_AccessDeniedException"}')"
seed $T poll-invalid-request-kms.http '\x06\x00' "$(error InvalidRequestException 400 '{"error":"invalid_request","reason":"KMS_NotFoundException"}')"
seed $T poll-invalid-request-region.http '\x06\x00' "$(error InvalidRequestRegionException 400 '{"error":"invalid_request","endpoint":"https://oidc.eu-west-1.amazonaws.com","region":"eu-west-1"}')"
seed $T poll-invalid-client-again.http '\x09\x00' "$(error InvalidClientException 401 '{"error":"invalid_client"}')"
seed $T poll-truncated-body.http '\x06\x00' "$(ok '{"accessTok')"
seed $T poll-pending-at-the-deadline.http '\x0a\x03' "$(error AuthorizationPendingException 400 '{"error":"authorization_pending"}')"
seed $T poll-legacy-token-without-refresh.http '\x0b\x00' "$(ok '{"accessToken":"aoa","expiresIn":3600,"tokenType":"Bearer"}')"
seed $T authorized-then-late-answer.http '\x0c\x01' "$(ok '{"accessToken":"late","expiresIn":3600}')"
seed $T refresh-ok-without-new-refresh-token.http '\x11\x00' "$(ok '{"tokenType":"Bearer","accessToken":"newtoken","expiresIn":28800}')"
seed $T refresh-invalid-grant-real.http '\x11\x00' "$(error InvalidGrantException 400 '{"error":"invalid_grant","error_description":"Invalid grant provided"}')"
seed $T refresh-server-error-html.http '\x13\x00' "$(printf '503\ncontent-type: text/html\n\n<html><body>Service Unavailable</body></html>')"
seed $T refresh-internal-server-error.http '\x12\x00' "$(error InternalServerException 500 '{"error":"server_error","error_description":"Internal error"}')"

# ---------------------------------------------------------------- flow_sequence
# Mode byte: bit 0 refresh, bit 1 cached registration, bit 2 no scopes.
# Opcodes: 00 n advance 50n ms; 01 n advance delay(n); 02 wake; 03 v success
# (v: bits 0-2 interval, 3-5 lifetime, 6 refresh token, 7 bad expiry);
# 04 c f error (c: 0 pending 1 slow_down 2 expired 3 denied 4 invalid_client
# 5 unauthorized 6 invalid_grant 7 server 8 invalid_request); 05 s n bytes raw;
# 06 k transport error; 07 send; 08 d send with a clock d behind; 09 k … answer a
# settled request; 0a cancel; 0b c f error.
T=flow_sequence
seed $T device-fresh-happy-path.ops '\x00\x03\x41\x03\x41\x02\x04\x00\x00\x02\x04\x01\x00\x02\x03\x41' ''
seed $T device-cached-approved-first-poll.ops '\x02\x03\x41\x02\x03\x41' ''
seed $T device-legacy-no-refresh-token.ops '\x04\x03\x41\x03\x00\x02\x04\x00\x00\x02\x03\x01' ''
seed $T device-register-again-on-poll.ops '\x02\x03\x41\x02\x04\x04\x00\x03\x41\x03\x41\x02\x04\x00\x00\x02\x03\x41' ''
seed $T device-code-expires-while-waiting.ops '\x02\x03\x11\x02\x04\x00\x00\x01\x0e\x02' ''
seed $T device-slow-down-every-poll.ops '\x02\x03\x41\x02\x04\x01\x00\x02\x04\x01\x00\x02\x04\x01\x03\x02\x04\x01\x00\x02\x04\x01\x00' ''
seed $T device-setup-transport-errors.ops '\x00\x06\x00\x02\x06\x01\x02\x06\x02\x02\x06\x03\x02\x06\x04\x02' ''
seed $T device-cancel-in-flight.ops '\x02\x07\x0a\x03\x41\x09\x00\x41' ''
seed $T device-stale-clock-and-late-polls.ops '\x02\x03\x41\x08\x05\x00\x0a\x08\x0f\x02\x04\x00\x00\x00\x14\x07\x00\x14\x04\x00\x00' ''
seed $T device-raw-answers.ops '\x02\x05\x09\x04oops\x02\x05\x00\x02{}\x02\x05\x04\x00\x02\x03\x41\x02\x05\x00\x0a{"expires":1}' ''
seed $T device-denied-after-pending.ops '\x00\x03\x41\x03\x41\x02\x04\x00\x00\x02\x04\x03\x00' ''
seed $T device-kms-denial-fails.ops '\x02\x03\x41\x02\x04\x03\x12' ''
seed $T device-settled-answers.ops '\x02\x03\x41\x09\x01\x00\x00\x02\x09\x00\x41\x04\x00\x00\x09\x03\x02' ''
seed $T refresh-happy-path.ops '\x01\x03\x41' ''
seed $T refresh-retries-exhausted.ops '\x01\x05\x0b\x00\x02\x06\x00\x02\x05\x09\x00\x02\x06\x02' ''
seed $T refresh-invalid-grant.ops '\x01\x04\x06\x00' ''
seed $T refresh-slow-down-then-ok.ops '\x01\x04\x01\x00\x02\x03\x01' ''

# ---------------------------------------------------------------- cache_files
T=cache_files
seed $T token-cli-sso-session.json '' '{"startUrl": "https://my-sso-portal.awsapps.com/start", "region": "us-east-1", "accessToken": "aoaAAAAA", "expiresAt": "2024-06-01T13:00:00Z", "clientId": "cBP-1Sc6dal96A6SKmYmoHVzLWVhc3QtMQ", "clientSecret": "eyJraWQiOiJrZXktMTU2", "registrationExpiresAt": "2024-08-30T12:00:00Z", "refreshToken": "aorAAAAA"}'
seed $T role-cache-spec-15-3.json '' '{"ProviderType": "sso", "Credentials": {"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "SessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "Expiration": "2030-06-01T13:00:00Z", "AccountId": "111122223333"}}'
seed $T role-cache-botocore-no-account.json '' '{"ProviderType": "sso", "Credentials": {"AccessKeyId": "ASIA", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2030-06-01T13:00:00.123000+00:00"}}'
seed $T token-minimal.json '' '{"accessToken": "aoa", "expiresAt": "2024-06-01T13:00:00Z"}'
seed $T token-rust-sdk-layout.json '' '{"accessToken":"a","expiresAt":"1971-08-02T16:53:20Z","refreshToken":"r","clientId":"c","clientSecret":"YSBzZWNyZXQ=","registrationExpiresAt":"2022-12-25T13:30:00Z","region":"us-east-1","startUrl":"u"}'
seed $T token-go-sdk-layout.json '' "$(printf '{"accessToken":"a","clientId":"c","expiresAt":"2024-06-01T13:00:00Z"}\n')"
seed $T token-js-sdk-layout.json '' "$(printf '{\n  "accessToken": "a",\n  "expiresAt": "2024-06-01T13:00:00.000Z"\n}')"
seed $T token-offset-and-utc-suffix.json '' '{"accessToken": "a", "expiresAt": "2024-06-01T15:00:00.250+02:00", "registrationExpiresAt": "2024-08-30T12:00:00UTC", "refreshToken": null, "clientId": ""}'
seed $T token-unknown-members.json '' '{"accessToken": "a", "x-tool": {"n": 1, "f": 1.5e300, "u": "caf\u00e9 \ud83d\ude00"}, "expiresAt": "2024-06-01T13:00:00Z", "aFirst": true}'
seed $T token-truncated.json '' '{"accessToken": "a", "expiresAt": "2024-06-01T1'
seed $T registration-device-flow.json '' '{"clientId": "cid", "clientSecret": "sec", "expiresAt": "2024-08-30T12:00:00Z", "scopes": ["sso:account:access"]}'
seed $T registration-pkce.json '' '{"clientId": "cid", "clientSecret": "sec", "expiresAt": "2024-08-30T12:00:00Z", "scopes": ["sso:account:access"], "grantTypes": ["authorization_code", "refresh_token"]}'
seed $T registration-bare.json '' '{"clientId": "cid", "clientSecret": "sec", "expiresAt": "2024-08-30T12:00:00Z"}'
seed $T registration-key-cafe.txt '' "$(printf 'us-east-1\nhttps://x.awsapps.com/start\ncaf\xc3\xa9')"

# ---------------------------------------------------------------- aws_config
T=aws_config
seed $T spec-example-3.4.ini '' '[profile dev]
sso_session = my-sso
sso_account_id = 111122223333
sso_role_name = SampleRole
region = us-west-2

[sso-session my-sso]
sso_region = us-east-1
sso_start_url = https://my-sso-portal.awsapps.com/start
sso_registration_scopes = sso:account:access

[profile legacy]
sso_start_url = https://my-sso-portal.awsapps.com/start
sso_region = us-east-1
sso_account_id = 111122223333
sso_role_name = ReadOnly

[profile local]
services = emulator
sso_session = my-sso

[services emulator]
sso_oidc =
  endpoint_url = http://127.0.0.1:4567
'
seed $T every-endpoint-level.ini '' '[profile p]
sso_session = s
services = local
endpoint_url = https://profile.example
use_fips_endpoint = true

[services local]
sso_oidc =
  endpoint_url = https://services.example

[sso-session s]
sso_start_url = https://my-sso-portal.awsapps.com/start
sso_region = eu-central-1
'
seed $T default-section-quoted-names.ini '' "[DEFAULT]
sso_region = us-gov-west-1
[default]
sso_session = 'my sso'
[sso-session 'my sso']
sso_start_url = https://d-1234567890.awsapps.com/start
sso_registration_scopes = sso:account:access, ,codewhisperer:completions,
[profile \"my dev\"]
sso_start_url = https://d-1234567890.awsapps.com/start
; a comment
# another
ignore_configured_endpoint_urls = TRUE
endpoint_url = https://ignored.example
"
seed $T continuation-lines-and-mismatch.ini '' '[profile a]
sso_session = s
sso_region = us-east-1
description = first line
  second line
[sso-session s]
sso_region = eu-west-1
sso_start_url = https://a.awsapps.com/start
'
seed $T hostile-values.ini '' '[profile evil]
sso_start_url = https://user@evil.example/start?x=1
sso_region = us-east-1.evil.example
[profile traversal]
sso_start_url = http://d-1234567890.awsapps.com/start
sso_region = x/../y
endpoint_url = http://169.254.169.254/
[profile dup]
x = 1
[profile '"'"'dup'"'"']
y = 2
'
seed $T bad-syntax.ini '' '[profile a]
x = 1
X: 2
k
[profile broken
'

# ---------------------------------------------------------------- emulator_request
# Time (2 bytes): 00 ss = t0+ss s; 01 ss = t0+256+2ss s; 02 ss = t0-ss s;
# 03 ss = around the registration's 90-day expiry; else 60 s per unit.
# Priming byte: bits 0-1 second code pending/approved/denied/registration
# expired; bits 2-4 fault: 2 status(4p) 3 error 4 malformed 5 drop 6 delay(100p ms).
T=emulator_request
H="content-type: application/json"
START='{"clientId": "$CLIENT_ID", "clientSecret": "$CLIENT_SECRET", "startUrl": "https://my-sso-portal.awsapps.com/start"}'
POLL='{"grantType": "urn:ietf:params:oauth:grant-type:device_code", "clientId": "$CLIENT_ID", "clientSecret": "$CLIENT_SECRET", "deviceCode": "$DEVICE_CODE"}'
POLL_USED='{"grantType": "urn:ietf:params:oauth:grant-type:device_code", "clientId": "$CLIENT_ID", "clientSecret": "$CLIENT_SECRET", "deviceCode": "$USED_DEVICE_CODE"}'
POLL_HYPHEN='{"grantType": "urn:ietf:params:oauth:grant-type:device-code", "clientId": "$CLIENT_ID", "clientSecret": "$CLIENT_SECRET", "deviceCode": "$DEVICE_CODE"}'
REFRESH='{"grantType": "refresh_token", "clientId": "$CLIENT_ID", "clientSecret": "$CLIENT_SECRET", "refreshToken": "$REFRESH_TOKEN"}'
req() { printf '%s %s\n%s\n\n%s' "$1" "$2" "$H" "$3"; }
seed $T register-cli-device-flow.http '\x00\x00\x00\x00' "$(req POST /client/register '{"clientName": "botocore-client-my-sso", "clientType": "public", "scopes": ["sso:account:access"]}')"
seed $T register-cli-pkce.http '\x00\x00\x00\x00' "$(req POST /client/register '{"clientName": "botocore-client-my-sso", "clientType": "public", "grantTypes": ["authorization_code", "refresh_token"], "redirectUris": ["http://127.0.0.1/oauth/callback"], "issuerUrl": "https://my-sso-portal.awsapps.com/start", "scopes": ["sso:account:access"]}')"
seed $T register-model-example.http '\x00\x00\x00\x00' "$(req POST /client/register '{"clientName":"My IDE Plugin","clientType":"public","scopes":["sso:account:access","codewhisperer:completions"],"entitledApplicationArn":"arn:aws:sso::ACCOUNTID:application/ssoins-1111111111111111/apl-1111111111111111","grantTypes":["authorization_code","refresh_token"],"issuerUrl":"https://identitycenter.amazonaws.com/ssoins-1111111111111111","redirectUris":["127.0.0.1:PORT/oauth/callback"]}')"
seed $T start-device-authorization.http '\x00\x00\x00\x00' "$(req POST /device_authorization "$START")"
seed $T start-with-expired-registration.http '\x00\x00\x03\x00' "$(req POST /device_authorization "$START")"
seed $T poll-pending.http '\x00\x05\x00\x00' "$(req POST /token "$POLL")"
seed $T poll-approved.http '\x00\x05\x01\x00' "$(req POST /token "$POLL")"
seed $T poll-denied.http '\x00\x05\x02\x00' "$(req POST /token "$POLL")"
seed $T poll-after-expiry.http '\x01\xff\x00\x00' "$(req POST /token "$POLL")"
seed $T poll-used-device-code.http '\x00\x05\x00\x00' "$(req POST /token "$POLL_USED")"
seed $T poll-device-code-grant-with-hyphen.http '\x00\x05\x00\x00' "$(req POST /token "$POLL_HYPHEN")"
seed $T refresh-token-grant.http '\x00\x3c\x00\x00' "$(req POST /token "$REFRESH")"
seed $T authorization-code-grant.http '\x00\x05\x00\x00' "$(req POST /token '{"grantType": "authorization_code", "clientId": "$CLIENT_ID", "clientSecret": "$CLIENT_SECRET", "redirectUri": "http://127.0.0.1:49152/oauth/callback", "codeVerifier": "v", "code": "c"}')"
seed $T create-token-with-iam.http '\x00\x05\x00\x00' "$(req POST '/token?aws_iam=t' "$REFRESH")"
seed $T get-token-method-not-allowed.http '\x00\x05\x00\x00' "$(req GET /token '')"
seed $T unknown-path.http '\x00\x05\x00\x00' "$(req POST /authorize '{}')"
seed $T path-prefix.http '\x00\x05\x00\x00' "$(req POST /prefix/device_authorization "$START")"
seed $T form-content-type.http '\x00\x05\x00\x00' "$(printf 'POST /token\ncontent-type: application/x-www-form-urlencoded\n\ngrantType=refresh_token')"
seed $T fault-status-500.http '\x00\x05\x08\x7d' "$(req POST /token "$POLL")"
seed $T fault-error-slow-down.http '\x00\x05\x0c\x01' "$(req POST /device_authorization "$START")"
seed $T fault-malformed-body.http '\x00\x05\x11\x00' "$(req POST /token "$POLL")"
seed $T fault-drop-connection.http '\x00\x05\x14\x00' "$(req POST /token "$REFRESH")"
seed $T portal-role-credentials.http '\x00\x05\x00\x00' "$(printf 'GET /federation/credentials?role_name=AdministratorAccess&account_id=111122223333\nx-amz-sso_bearer_token: $ACCESS_TOKEN\n\n')"
seed $T portal-accounts-page.http '\x00\x05\x00\x00' "$(printf 'GET /assignment/accounts?max_result=1\nx-amz-sso_bearer_token: $ACCESS_TOKEN\n\n')"
seed $T portal-roles.http '\x00\x05\x00\x00' "$(printf 'GET /prefix/assignment/roles?account_id=444455556666\nX-AMZ-SSO_BEARER_TOKEN: $ACCESS_TOKEN\n\n')"
seed $T portal-forbidden.http '\x00\x05\x00\x00' "$(printf 'GET /federation/credentials?role_name=Billing&account_id=111122223333\nx-amz-sso_bearer_token: $ACCESS_TOKEN\n\n')"
seed $T portal-no-token.http '\x00\x05\x00\x00' "$(printf 'GET /assignment/accounts\n\n')"
seed $T portal-logout.http '\x00\x05\x00\x00' "$(printf 'POST /logout\nx-amz-sso_bearer_token: $ACCESS_TOKEN\n\n')"
seed $T fault-delay.http '\x00\x05\x19\x0a' "$(req POST /client/register '{"clientName":"x","clientType":"public"}')"

# ----------------------------------------------------------- auth_code_callback
# Byte 0: bit 0 a cached registration for the grant. Opcodes: 0 LEN HEAD (a
# raw request to the listener), 1 N (a callback with the right state: 0 code,
# 1 access_denied, 2 another error, 3 nothing), 2 KIND ARG LEN RAW (answer:
# kind 0 success, 1 error code ARG, 2 raw status, 3 transport error ARG),
# 3 N (N*10 s pass), 4 LEN TEXT (query round trip), 5 cancel.
T=auth_code_callback
# chunk TEXT: its length as one byte, then the text.
chunk() { printf "\\x$(printf %02x "$(printf '%s' "$1" | wc -c)")"; }
CRLF=$'\r\n'
FORGED="GET /oauth/callback?code=stolen&state=not-ours HTTP/1.1${CRLF}Host: 127.0.0.1:49152${CRLF}${CRLF}"
FAVICON="GET /favicon.ico HTTP/1.1${CRLF}${CRLF}"
seed $T approve.bin '\x00\x02\x00\x00\x00\x01\x00\x02\x00\x00\x00' ''
seed $T forged-then-real.bin "\\x00\\x02\\x00\\x00\\x00\\x00$(chunk "$FORGED")" "$FORGED"
printf '\x01\x00\x02\x00\x00\x00' >>corpus/$T/forged-then-real.bin
seed $T denied.bin '\x00\x02\x00\x00\x00\x01\x01' ''
seed $T other-error-and-no-code.bin '\x01\x01\x02\x01\x03' ''
seed $T cached-favicon-then-deadline.bin "\\x01\\x00$(chunk "$FAVICON")" "$FAVICON"
printf '\x03\xff\x03\xff\x03\xff' >>corpus/$T/cached-favicon-then-deadline.bin
seed $T lost-answer-then-invalid-grant.bin '\x01\x01\x00\x02\x03\x00\x00\x03\x01\x02\x01\x06\x00' ''
seed $T unreadable-token-answer.bin '\x01\x01\x00\x02\x02\x32\x05{"acc' ''
seed $T query-round-trip.bin "\\x00\\x04$(chunk 'a=%41+b&c&=x&d=%E2%82%AC')" 'a=%41+b&c&=x&d=%E2%82%AC'

for t in corpus/*; do echo "$t: $(ls "$t" | wc -l) seeds"; done
