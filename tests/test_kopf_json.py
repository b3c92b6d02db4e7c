"""kopf's watch lines go through orjson, and nothing orjson refuses is lost."""

from __future__ import annotations

import inspect

from kopf._cogs.clients import api as kopf_api

from taskops import kopf_json


def test_kopf_still_decodes_each_watch_line_with_its_json_module() -> None:
    # The one place kopf_json replaces; a kopf release that moves it must fail here.
    assert "json.loads(" in inspect.getsource(kopf_api.stream)


def test_installed_kopf_decodes_with_the_fallback_decoder() -> None:
    kopf_json.install()
    assert kopf_api.json.loads is kopf_json.loads
    assert kopf_api.json.loads('{"type": "ADDED", "object": {"a": [1, 2.5]}}') == {
        "type": "ADDED", "object": {"a": [1, 2.5]}}


def test_an_integer_beyond_64_bits_falls_back_to_the_standard_library() -> None:
    line = '{"object": {"spec": {"n": 100000000000000000000000000000}}}'
    assert kopf_json.loads(line) == {"object": {"spec": {"n": 10**29}}}
    assert kopf_json.loads(line.encode()) == {"object": {"spec": {"n": 10**29}}}


def test_a_pod_line_is_recognised_by_how_the_api_server_begins_it() -> None:
    pod = '{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{}}}'
    assert kopf_json._is_pod(pod) and kopf_json._is_pod(pod.encode())
    assert kopf_json.loads(pod.encode())["object"]["kind"] == "Pod"


def test_a_custom_object_that_mentions_a_pod_is_still_scanned_for_long_numbers() -> None:
    # Custom objects come with sorted keys: apiVersion first, so no prefix match;
    # a pod inside the spec must not skip the scan.
    line = ('{"type":"ADDED","object":{"apiVersion":"taskops.dev/v1alpha1","kind":"TaskJob",'
            '"spec":{"template":{"kind":"Pod","n":100000000000000000000000000000}}}}')
    assert not kopf_json._is_pod(line)
    assert kopf_json.loads(line)["object"]["spec"]["template"]["n"] == 10**29
