"""Every class of bad request gets a 4xx with one line naming the field, and the server keeps
serving: a good request straight after each bad one is answered."""
from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.e2e  # trains two small models once per session

ROW = {"island": "Biscoe", "bill_length_mm": 45.1, "bill_depth_mm": 14.5,
       "flipper_length_mm": 215, "body_mass_g": 5000, "sex": "female", "year": 2008}

# (what, path after /v1/models/, body or raw bytes, status, words the error must contain)
CASES = [
    ("malformed JSON", "penguins:predict", b'{"instances": [', 400, "not valid JSON"),
    ("not an object", "penguins:predict", [1, 2], 400, "JSON object"),
    ("neither instances nor inputs", "penguins:predict", {"rows": []}, 400, "rows"),
    ("both instances and inputs", "penguins:predict", {"instances": [ROW], "inputs": {}}, 400,
     "exactly one"),
    ("empty instances", "penguins:predict", {"instances": []}, 400, "instances"),
    ("missing feature", "penguins:predict",
     {"instances": [{k: v for k, v in ROW.items() if k != "sex"}]}, 400, "instances[0].sex"),
    ("unknown feature", "penguins:predict", {"instances": [{**ROW, "beak": 1}]}, 400,
     "instances[0].beak"),
    ("string for a number", "penguins:predict",
     {"instances": [ROW, {**ROW, "body_mass_g": "heavy"}]}, 400, "body_mass_g[1]"),
    ("fraction for an integer", "penguins:predict",
     {"instances": [{**ROW, "flipper_length_mm": 200.5}]}, 400, "flipper_length_mm[0]"),
    ("number for a string", "penguins:predict", {"instances": [{**ROW, "island": 3}]}, 400,
     "island[0]"),
    ("null feature", "penguins:predict", {"instances": [{**ROW, "sex": None}]}, 400, "sex[0]"),
    ("bad base64", "penguins:predict", {"instances": [{"b64": "%%%"}]}, 400, "examples[0]"),
    ("b64 not a tf.Example", "penguins:predict",
     {"instances": [{"b64": base64.b64encode(b"garbage").decode()}]}, 400, "could not run"),
    ("columns of unequal length", "penguins:predict",
     {"inputs": {k: [v, v] if k == "sex" else [v] for k, v in ROW.items()}}, 400, "lengths"),
    ("unknown signature", "penguins:predict", {"signature_name": "nope", "instances": [ROW]},
     400, "signature_name"),
    ("unknown version", "penguins/versions/9:predict", {"instances": [ROW]}, 404, "version 9"),
    ("not a version number", "penguins/versions/latest:predict", {"instances": [ROW]}, 400,
     "'latest'"),
    ("unknown model", "sheep:predict", {"instances": [ROW]}, 404, "'sheep'"),
    ("oversized body", "penguins:predict", {"instances": [ROW] * 400}, 413,
     "serving.max_body_bytes"),
]




@pytest.mark.parametrize("what,path,body,status,words", CASES, ids=[c[0] for c in CASES])
def test_bad_request_then_a_good_one(shared_server, what, path, body, status, words):
    served = shared_server
    url = f"{served.url}/v1/models/{path}"
    bad = served.client.post(url, content=body) if isinstance(body, bytes) \
        else served.client.post(url, json=body)
    assert bad.status_code == status, bad.text
    error = bad.json()["error"]
    assert words in error and "\n" not in error, error
    good = served.client.post(f"{served.model_url}:predict", json={"instances": [ROW]})
    assert good.status_code == 200 and good.json()["predictions"][0]["classes"] in (
        "Adelie", "Chinstrap", "Gentoo")


def test_a_body_streamed_without_a_length_is_cut_at_the_limit(serve):
    served = serve(max_body_bytes=1_000)
    chunks = (b"x" * 500 for _ in range(10))
    bad = served.client.post(f"{served.model_url}:predict", content=chunks)
    assert bad.status_code == 413 and "1000 bytes" in bad.json()["error"]
    assert served.client.post(f"{served.model_url}:predict",
                              json={"instances": [ROW]}).status_code == 200
