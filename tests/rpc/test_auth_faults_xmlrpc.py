"""Basic auth, fault strings and XML-RPC dispatch, without a daemon."""

from __future__ import annotations

import base64
import hashlib
import xmlrpc.client

import pytest

from supervisor_runtime.rpc.auth import BasicAuth
from supervisor_runtime.rpc.faults import FaultCode, RPCError, fault_name
from supervisor_runtime.rpc.system_ns import SystemNamespace
from supervisor_runtime.rpc.xmlrpc import (
    BadRequest,
    Deferred,
    Registry,
    marshal_fault,
    marshal_value,
    parse_call,
)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_plain_password() -> None:
    auth = BasicAuth("user", "123")
    assert auth.check(basic("user", "123"))
    assert not auth.check(basic("user", "1234"))
    assert not auth.check(basic("other", "123"))
    assert not auth.check("")
    assert not auth.check("Digest abc")
    assert not auth.check("Basic !!!notbase64")
    assert auth.challenge == ("WWW-Authenticate", 'Basic realm="default"')


def test_sha_password() -> None:
    auth = BasicAuth("user", "{SHA}" + hashlib.sha1(b"secret").hexdigest())
    assert auth.check(basic("user", "secret"))
    assert not auth.check(basic("user", "{SHA}" + hashlib.sha1(b"secret").hexdigest()))
    assert not auth.check(basic("user", "wrong"))


def test_password_may_contain_colons() -> None:
    assert BasicAuth("u", "a:b").check(basic("u", "a:b"))


def test_fault_codes_and_strings() -> None:
    assert FaultCode.UNKNOWN_METHOD == 1
    assert FaultCode.CANT_REREAD == 92
    assert FaultCode.SHUTDOWN_STATE == 6
    assert RPCError(FaultCode.BAD_NAME, "foo").text == "BAD_NAME: foo"
    assert RPCError(FaultCode.NO_FILE).text == "NO_FILE"
    assert RPCError(FaultCode.NO_FILE, None).text == "NO_FILE"
    assert fault_name(12345) == "UNKNOWN"
    failed = RPCError(FaultCode.FAILED, "x").as_struct()
    assert failed == {"faultCode": 30, "faultString": "FAILED: x"}


def registry() -> Registry:
    reg = Registry()
    reg.add("ns.add", lambda a, b: a + b, ("int", "int", "int"))
    reg.add("ns.boom", lambda: 1 / 0, ("int",))
    reg.add("ns.bad", lambda: int([]), ("int",))
    return reg


@pytest.mark.parametrize(
    "name",
    ["ns", "ns.add.__globals__", "ns.__class__", "ns._private", "supervisor.supervisord.options",
     "ns.missing", "", 5, None, "other.add"],
)
def test_only_exact_registered_names_are_callable(name: object) -> None:
    with pytest.raises(RPCError) as info:
        registry().call(name, (1, 2))
    assert info.value.code == FaultCode.UNKNOWN_METHOD


def test_wrong_arity_and_type_errors_are_incorrect_parameters() -> None:
    reg = registry()
    assert reg.call("ns.add", (1, 2)) == 3
    for name, params in (("ns.add", (1,)), ("ns.add", (1, 2, 3)), ("ns.bad", ())):
        with pytest.raises(RPCError) as info:
            reg.call(name, params)
        assert info.value.code == FaultCode.INCORRECT_PARAMETERS


def test_parse_call_refuses_doctype_and_garbage() -> None:
    good = xmlrpc.client.dumps((1, "x"), "ns.add").encode()
    assert parse_call(good) == ("ns.add", (1, "x"))
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><methodCall>' \
        b"<methodName>ns.add</methodName></methodCall>"
    for body in (bomb, b"<methodCall>", b"\xff\xfe", b"", xmlrpc.client.dumps((1,)).encode(),
                 b"<methodCall><methodName></methodName></methodCall>"):
        with pytest.raises(BadRequest):
            parse_call(body)


def test_marshalling_matches_xmlrpc_client() -> None:
    assert xmlrpc.client.loads(marshal_value([1, "a"]))[0] == ([1, "a"],)
    with pytest.raises(xmlrpc.client.Fault) as info:
        xmlrpc.client.loads(marshal_fault(RPCError(FaultCode.BAD_NAME, "x")))
    assert (info.value.faultCode, info.value.faultString) == (10, "BAD_NAME: x")
    with pytest.raises(TypeError):
        marshal_value(None)  # supervisord does not marshal None either


def test_system_namespace_and_multicall() -> None:
    reg = registry()
    pending = Deferred()
    reg.add("ns.later", lambda: pending, ("int",))
    system = SystemNamespace(reg)
    system.register()
    assert "system.multicall" in system.listMethods()
    assert system.methodSignature("ns.add") == ["int", "int", "int"]
    with pytest.raises(RPCError) as info:
        system.methodHelp("nope.nope")
    assert info.value.code == FaultCode.SIGNATURE_UNSUPPORTED
    calls = [
        {"methodName": "ns.add", "params": [1, 2]},
        {"methodName": "system.multicall", "params": [[]]},
        {"params": []},
        {"methodName": "ns.nope"},
        {"methodName": "ns.boom", "params": []},
        {"methodName": "ns.later", "params": []},
        {"methodName": "ns.add", "params": [2, 2]},
    ]
    outcome = system.multicall(calls)
    assert isinstance(outcome, Deferred) and not outcome.done
    pending.resolve(7)
    assert outcome.done
    results = outcome.value
    assert results[0] == 3
    recursive = "INCORRECT_PARAMETERS: Recursive system.multicall forbidden"
    assert results[1] == {"faultCode": 2, "faultString": recursive}
    assert results[2] == {"faultCode": 2, "faultString": "INCORRECT_PARAMETERS: No methodName"}
    assert results[3] == {"faultCode": 1, "faultString": "UNKNOWN_METHOD"}
    assert results[4]["faultCode"] == 30
    assert results[4]["faultString"].startswith("FAILED: <class 'ZeroDivisionError'>:")
    assert results[5:] == [7, 4]


def test_multicall_cancel_reaches_the_waiting_call() -> None:
    reg = Registry()
    pending = Deferred()
    cancelled = []
    pending.on_cancel(lambda: cancelled.append(True))
    reg.add("ns.later", lambda: pending, ("int",))
    system = SystemNamespace(reg)
    outcome = system.multicall([{"methodName": "ns.later", "params": []}])
    assert isinstance(outcome, Deferred)
    outcome.cancel()
    assert cancelled == [True]
