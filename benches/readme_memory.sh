#!/usr/bin/env bash
# Memory after the README walkthrough (issue 11: < 50 MiB resident idle).
#
# Starts a release build of the server (`serve --demo`) in a scratch folder, runs the README's
# walkthrough steps 1 to 6 and its audit reads against it, waits for the server to go idle and
# prints its resident memory (VmRSS, with the anonymous and file-backed parts) and its peak.
# Needs curl, jq and oathtool (Debian: apt-get install curl jq oathtool).
#
#   cargo build --release && benches/readme_memory.sh [target/release/keyholder]
set -euo pipefail
BIN=$(realpath "${1:-target/release/keyholder}")
PORT=${PORT:-18080}
BASE=http://127.0.0.1:$PORT
DIR=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
cd "$DIR"
KEYHOLDER_BIND=127.0.0.1:$PORT "$BIN" serve --demo > out.log 2> keyholder.log &
PID=$!
for _ in $(seq 100); do curl -sf "$BASE/healthz" > /dev/null && break; sleep 0.1; done
PW=$(awk '/password:/ {print $2}' out.log)
rss() { grep -E "^$1:" "/proc/$PID/status" | awk '{printf "%.1f", $2 / 1024}'; }
echo "started:   $(rss VmRSS) MiB resident"

# 1. Log in with the password; G2 refuses user management without a second factor.
TOKEN=$(curl -sf $BASE/v1/auth/login -H 'content-type: application/json' \
  -d "{\"org\":\"demo\",\"login\":\"dsl@demo.school\",\"password\":\"$PW\"}" | jq -r .access_token)
test "$(curl -s $BASE/v1/orgs/demo/users -H "authorization: Bearer $TOKEN" | jq -r .rule)" = G2
# 2. Enrol a key.
SECRET=$(curl -sf -X POST $BASE/v1/me/totp/setup -H "authorization: Bearer $TOKEN" | jq -r .secret)
curl -sf $BASE/v1/me/totp/confirm -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"code\":\"$(oathtool --totp -b "$SECRET")\"}" > /dev/null
# 3. Log in with the next step's code.
TOKEN=$(curl -sf $BASE/v1/auth/login -H 'content-type: application/json' \
  -d "{\"org\":\"demo\",\"login\":\"dsl@demo.school\",\"password\":\"$PW\",\"totp_code\":\"$(oathtool --totp -b -N 'now + 30 seconds' "$SECRET")\"}" \
  | jq -r .access_token)
curl -sf $BASE/v1/me -H "authorization: Bearer $TOKEN" > /dev/null
# 4. List users.
curl -sf "$BASE/v1/orgs/demo/users?sort=user_group&per_page=5" -H "authorization: Bearer $TOKEN" > /dev/null
# 5. Create a user.
TEACHERS=$(curl -sf "$BASE/v1/orgs/demo/user-groups?q=teachers" -H "authorization: Bearer $TOKEN" \
  | jq -r '.items[] | select(.name=="Teachers") | .id')
curl -sf $BASE/v1/orgs/demo/users -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"email\":\"new.teacher@demo.school\",\"forename\":\"Nadia\",\"surname\":\"Okafor\",\"job_title\":\"Year 3 Teacher\",
       \"user_group_id\":\"$TEACHERS\",\"password\":\"first day in year three\",\"must_change_password\":true}" > /dev/null
# 6. Invite someone; she sets her password and logs in.
PRIYA=$(curl -sf "$BASE/v1/orgs/demo/staff?eligible_for_account=true&q=shah" -H "authorization: Bearer $TOKEN" | jq -r '.items[0].id')
curl -sf $BASE/v1/orgs/demo/users -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"staff_ids\":[\"$PRIYA\"],\"user_group_id\":\"$TEACHERS\",\"send_invitation\":true}" > /dev/null
for _ in $(seq 50); do ls data/mail/*.eml > /dev/null 2>&1 && break; sleep 0.1; done
INVITE=$(grep -o 'set-password?token=[A-Za-z0-9_-]*' "$(ls -t data/mail/*.eml | head -1)" | cut -d= -f2)
curl -sf $BASE/v1/auth/set-password -H 'content-type: application/json' \
  -d "{\"token\":\"$INVITE\",\"password\":\"priya picks her own pass phrase\"}" > /dev/null
curl -sf $BASE/v1/auth/login -H 'content-type: application/json' \
  -d '{"org":"demo","login":"priya.shah@demo.school","password":"priya picks her own pass phrase"}' > /dev/null
# The audit trail and its chain.
curl -sf "$BASE/v1/orgs/demo/audit?limit=5" -H "authorization: Bearer $TOKEN" > /dev/null
test "$(curl -sf "$BASE/v1/orgs/demo/audit/verify" -H "authorization: Bearer $TOKEN" | jq -r .valid)" = true

sleep "${IDLE_SECS:-8}"
echo "idle:      $(rss VmRSS) MiB resident ($(rss RssAnon) anonymous, $(rss RssFile) file-backed; target < 50)"
echo "peak:      $(rss VmHWM) MiB"
