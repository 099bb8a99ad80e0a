#!/usr/bin/env python3
"""Extracts request examples from Meta's OpenAPI description (MIT, in
../shared/reference/meta-openapi/) into JSON fixtures for the wire crate's conformance tests:

- crates/wire/tests/fixtures/meta_send_examples.json: the request bodies of the `sendMessage`
  operation (`POST /{Version}/{Phone-Number-ID}/messages`);
- crates/wire/tests/fixtures/meta_webhook_examples.json: the webhook payloads Meta posts to a
  business (`POST /whatsapp/webhooks`): inbound messages of many kinds and group events;
- crates/wire/tests/fixtures/meta_template_examples.json: template definitions as Meta's
  examples create (`POST /{WABA-ID}/message_templates`) and edit them (`POST /{TEMPLATE_ID}`).

Run it again when the description is updated:

    python3 scripts/extract-meta-examples.py [path/to/business-messaging-api.yaml]
"""
import json
import pathlib
import sys

import yaml

root = pathlib.Path(__file__).resolve().parent.parent
src = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else (
    root.parent / "shared/reference/meta-openapi/business-messaging-api_v23.0.yaml")
spec = yaml.safe_load(src.read_text())
fixtures = root / "crates/wire/tests/fixtures"


def request_examples(path, check=None):
    op = spec["paths"][path]["post"]
    if check:
        check(op)
    examples = op["requestBody"]["content"]["application/json"]["examples"]
    return {name: ex["value"] for name, ex in sorted(examples.items())}


def write(name, what, examples):
    dest = fixtures / name
    dest.write_text(json.dumps({
        "source": f"Meta's OpenAPI description ({src.name}, MIT licence), {what}",
        "examples": examples,
    }, indent=2, ensure_ascii=False) + "\n")
    print(f"{len(examples)} examples -> {dest.relative_to(root)}")


def is_send(op):
    assert op["operationId"] == "sendMessage", op.get("operationId")


write("meta_send_examples.json", "operation sendMessage",
      request_examples("/{Version}/{Phone-Number-ID}/messages", is_send))
write("meta_webhook_examples.json", "POST /whatsapp/webhooks (request body examples)",
      request_examples("/whatsapp/webhooks"))
write("meta_template_examples.json",
      "POST /{WABA-ID}/message_templates (request body examples) and POST /{TEMPLATE_ID} (edit)",
      {**request_examples("/{Version}/{WABA-ID}/message_templates"),
       **{f"Edit: {k}": v for k, v in request_examples("/{Version}/{TEMPLATE_ID}").items()}})
