"""Checks a client generated from the node's OpenAPI document by a stock generator
(openapi-python-client): who am I, raise an alert, replay it under its idempotency key, read it back,
list, and a refusal decoded as a google.rpc.Status. Exits non-zero on the first thing that does not hold.

    openapi-python-client generate --url https://HOST:PORT/v1/openapi.json --output-path client
    pip install ./client
    python3 generated_client.py --url https://HOST:PORT --ca FILE --token T --example ALERT.json
"""

import argparse
import json
import uuid

from tulpar_national_node_httpjson_api_client import AuthenticatedClient
from tulpar_national_node_httpjson_api_client.api.alert_service import (
    get_alert,
    list_alerts,
    submit_alert,
    who_am_i,
)
from tulpar_national_node_httpjson_api_client.models import (
    AlertContent,
    GoogleRpcStatus,
    SubmitAlertResponse,
)


def main():
    parser = argparse.ArgumentParser()
    for name in ["url", "ca", "token", "example"]:
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args()
    client = AuthenticatedClient(base_url=args.url, token=args.token, verify_ssl=args.ca)

    me = who_am_i.sync(client=client)
    assert me.role == "integrator", me
    content = AlertContent.from_dict(json.load(open(args.example)))
    key = f"generated-{uuid.uuid4()}"
    raised = submit_alert.sync(client=client, body=content, idempotency_key=key)
    assert isinstance(raised, SubmitAlertResponse), raised
    again = submit_alert.sync(client=client, body=content, idempotency_key=key)
    assert again.replayed and again.alert_id == raised.alert_id, again
    record = get_alert.sync(client=client, alert_id=raised.alert_id)
    assert record.alert.alert_id == raised.alert_id, record
    page = list_alerts.sync(client=client, page_size=5)
    assert any(a.alert.alert_id == raised.alert_id for a in page.alerts), page
    refused = submit_alert.sync(client=client, body=AlertContent.from_dict({"priority": "PRIORITY_HIGH"}))
    assert isinstance(refused, GoogleRpcStatus) and refused.code == 3, refused
    print(f"the generated client raised, replayed, read and listed {raised.alert_id}; refusals decode")


if __name__ == "__main__":
    main()
