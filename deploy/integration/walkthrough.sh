#!/usr/bin/env bash
# The HTTP/JSON API with curl, step by step: KZ raises an alert to Uzbekistan, UZ acknowledges it and
# reports the outcome, KZ reads it back, KZ's focal point fetches the proof that the alert is in the
# ledger. Set, for example from `tulpar-demo`'s output:
#   KZ_URL, KZ_CA, KZ_TOKEN (an officer of KZ-AKTAU-PCU or an integrator), KZ_FOCAL_TOKEN,
#   UZ_URL, UZ_CA, UZ_TOKEN (an officer of UZ-TASHKENT-PCU), ALERT (a draft, e.g.
#   deploy/examples/alert-drugs-precursors.json).
# python3 only reads fields out of the JSON answers.
set -euo pipefail
field() { python3 -c "import json,sys; v=json.load(sys.stdin); print(eval('v' + sys.argv[1]))" "$1"; }
kz() { curl -sS --fail-with-body --cacert "$KZ_CA" -H "Authorization: Bearer $KZ_TOKEN" "$@"; }
uz() { curl -sS --fail-with-body --cacert "$UZ_CA" -H "Authorization: Bearer $UZ_TOKEN" "$@"; }
focal() { curl -sS --fail-with-body --cacert "$KZ_CA" -H "Authorization: Bearer $KZ_FOCAL_TOKEN" "$@"; }

echo "1. Who am I to the KZ node?"
kz "$KZ_URL/v1/whoami"; echo

echo "2. Raise the alert (the body is the draft; the key makes a retry safe)."
key="walkthrough-$(date +%s%N)"
raised="$(kz -H 'Content-Type: application/json' -H "Idempotency-Key: $key" --data @"$ALERT" "$KZ_URL/v1/alerts")"
alert_id="$(field "['alertId']" <<< "$raised")"
echo "   alert $alert_id"
echo "   the same request again is replayed: $(kz -H 'Content-Type: application/json' -H "Idempotency-Key: $key" --data @"$ALERT" "$KZ_URL/v1/alerts" | field "['replayed']")"

echo "3. UZ's officer waits for it in the live stream (one JSON event per line)."
for _ in $(seq 1 30); do
  if uz --max-time 2 -N "$UZ_URL/v1/alerts:watch?resumeFrom=0" 2>/dev/null | grep -q "$alert_id"; then
    break
  fi
done
uz "$UZ_URL/v1/alerts/$alert_id" | field "['recipients'][0]['state']"

echo "4. UZ acknowledges it, then reports that nothing was found."
uz -H 'Content-Type: application/json' --data '{"acknowledgement":{"decision":"ACKNOWLEDGEMENT_DECISION_ACCEPTED"}}' \
  "$UZ_URL/v1/alerts/$alert_id:acknowledge" > /dev/null
uz -H 'Content-Type: application/json' --data '{"outcome":{"nothingFound":{}}}' \
  "$UZ_URL/v1/alerts/$alert_id:recordOutcome" > /dev/null

echo "5. KZ reads the outcome back."
state=""
for _ in $(seq 1 60); do
  state="$(kz "$KZ_URL/v1/alerts/$alert_id" | field "['recipients'][0].get('state')")"
  [ "$state" = DELIVERY_STATE_OUTCOME_RECORDED ] && break
  sleep 0.5
done
echo "   $state"
[ "$state" = DELIVERY_STATE_OUTCOME_RECORDED ]

echo "6. KZ's focal point: the latest signed checkpoint and the proof the alert's entry is in it."
index="$(kz "$KZ_URL/v1/alerts/$alert_id" | field ".get('ledgerIndex', '0')")"
size="$(focal "$KZ_URL/v1/audit/checkpoints/latest" | field "['checkpoint']['size']")"
focal "$KZ_URL/v1/audit/entries/$index/inclusionProof?treeSize=$size"; echo

echo "7. A mistake is answered with the field and the rule."
curl -sS --cacert "$KZ_CA" -H "Authorization: Bearer $KZ_TOKEN" -H 'Content-Type: application/json' \
  --data '{"priority": 7}' "$KZ_URL/v1/alerts"; echo
