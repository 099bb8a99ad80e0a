#!/usr/bin/env python3
"""Extracts the request examples of Meta's `sendMessage` operation from Meta's OpenAPI
description (MIT, in ../shared/reference/meta-openapi/) into a JSON fixture for the wire
crate's conformance test. Run it again when the description is updated:

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
op = spec["paths"]["/{Version}/{Phone-Number-ID}/messages"]["post"]
assert op["operationId"] == "sendMessage"
examples = op["requestBody"]["content"]["application/json"]["examples"]
out = {name: ex["value"] for name, ex in sorted(examples.items())}
dest = root / "crates/wire/tests/fixtures/meta_send_examples.json"
dest.write_text(json.dumps({
    "source": f"Meta's OpenAPI description ({src.name}, MIT licence), operation sendMessage",
    "examples": out,
}, indent=2, ensure_ascii=False) + "\n")
print(f"{len(out)} examples -> {dest.relative_to(root)}")
