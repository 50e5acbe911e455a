"""The sources, read with ``ast``: every service function reaches the policy, and the actions the
code asks about are exactly the registered ones (an unregistered action would always be denied; a
registered one nobody asks about is a rule that guards nothing)."""
from __future__ import annotations

import ast

from app import create_app
from exchange.policy import registered_actions
from tests.conftest import project_root

PACKAGES = ("auth", "exchange", "storage")
#: The names that ask the policy.
ASKING = {("exchange.policy", "decide"), ("exchange.policy", "require"), ("exchange.policy", "require_own"),
          ("exchange.policy", "query_filter")}
#: Functions taking the acting identity first that need not ask, and why.
EXEMPT = {
    ("exchange.catalog.parallel_import", "write_in_parallel"):
        "hands the identity to writer processes, which ask through bulk_upsert",
    # The download gateway's steps after grant_download (or the gateway) asked "asset:download":
    ("exchange.metering.quotas", "_hold"): "grant_download's step inside the organisation's lock",
    ("exchange.metering.quotas", "_join_visit"): "grant_download's step: which counted download this continues",
    ("exchange.metering.refusals", "explain_refusal"): "explains a refusal decide already gave",
    ("exchange.metering.refusals", "refusal_of"): "the 403 of a refusal decide already gave",
    # The attribution the sharing policies ask: read for a download or licence already allowed.
    ("exchange.sharing.duties", "attributions"): "the duties of a use decide already allowed",
    ("exchange.sharing.duties", "header"): "the SDX-Attribution of a download the gateway already allowed",
    ("exchange.metering.quotas", "licence_drawn_on"): "the entitlement a decision already allowed draws on",
    ("exchange.metering.quotas", "record_answer"): "meters an answer the gateway sent after asking",
    ("exchange.metering.quotas", "record_refusal"): "meters a refusal decide (or the allowance) gave",
    ("exchange.metering.quotas", "_record"): "writes the event of record_refusal and record_answer",
    ("exchange.metering.gateway", "_check_token"): "the gateway's token check before it asks asset:download",
    ("exchange.catalog.service", "withheld_footprints"):
        "asks the rule sets answering hooks.footprints_withheld about rows item:read already allowed",
    ("exchange.sharing.access", "_held"): "asks the sharing rule set (evaluation.evaluate) what holds a target "
                                          "back, for create_request, which asked access-request:create",
    # The sharing policies are a rule set feeding the decision point (through restrict): decide asks them.
    **{("exchange.sharing.evaluation", name): "the sharing rule set, asked by decide through restrict"
       for name in ("caller_of", "candidates", "combine", "discoverable", "evaluate", "exempt")},
}


def _modules() -> dict[str, ast.Module]:
    root = project_root()
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = ast.parse(path.read_text(), str(path))
    return modules


def _imports(module: str, tree: ast.Module, modules: dict) -> dict[str, tuple[str, str | None]]:
    """Local name -> (module, name) for functions, (module, None) for modules."""
    names: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                names[alias.asname or alias.name] = (target, None) if target in modules else (node.module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = (alias.name, None)
    return names


def _functions(modules: dict) -> dict[tuple[str, str], tuple[ast.FunctionDef, set]]:
    """Every module-level function, with the functions (module, name) its body refers to."""
    functions = {}
    for module, tree in modules.items():
        imported = _imports(module, tree, modules)
        local = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            refs = set()
            for inner in ast.walk(node):
                if isinstance(inner, ast.Name):
                    if inner.id in local:
                        refs.add((module, inner.id))
                    elif inner.id in imported and imported[inner.id][1] is not None:
                        refs.add(imported[inner.id])
                elif isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name):
                    target = imported.get(inner.value.id)
                    if target is not None and target[1] is None:
                        refs.add((target[0], inner.attr))
            functions[(module, node.name)] = (node, refs)
    return functions


def _asking(functions: dict) -> set[tuple[str, str]]:
    asking = set(ASKING)
    grew = True
    while grew:
        grew = False
        for key, (_, refs) in functions.items():
            if key not in asking and refs & asking:
                asking.add(key)
                grew = True
    return asking


def test_every_function_acting_for_an_identity_asks_the_policy():
    functions = _functions(_modules())
    asking = _asking(functions)
    silent = [f"{module}.{name}" for (module, name), (node, _) in sorted(functions.items())
              if node.args.args and node.args.args[0].arg == "identity"
              and not module.startswith("exchange.policy") and not module.endswith(".policies")
              and (module, name) not in asking and (module, name) not in EXEMPT]
    assert not silent, f"these take an identity but never reach decide/require/query_filter: {silent}"
    assert len([key for key in asking if key[0].startswith(("auth.", "exchange.catalog", "exchange.ingest"))]) > 40


def test_the_audit_sees_a_function_that_does_not_ask():
    modules = {"svc": ast.parse("from exchange.policy import require\n"
                                "def asks(identity): require(identity, 'x')\n"
                                "def through(identity): return asks(identity)\n"
                                "def silent(identity): return 1\n")}
    asking = _asking(_functions(modules))
    assert {("svc", "asks"), ("svc", "through")} <= asking and ("svc", "silent") not in asking


def _asked_actions(modules: dict) -> set[str]:
    """The action strings the code passes as an ``action`` argument (to decide, require,
    query_filter, or a function of its own with an ``action`` parameter)."""
    positions = {}
    for tree in modules.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name != "register":
                params = [a.arg for a in node.args.args]
                if "action" in params:
                    positions[node.name] = params.index("action")
                elif "action" in [a.arg for a in node.args.kwonlyargs]:
                    positions[node.name] = None
    actions = set()
    for tree in modules.values():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in positions:
                continue
            args = [a for a in node.args if not isinstance(a, ast.Starred)]
            values = [k.value for k in node.keywords if k.arg == "action"]
            if positions[name] is not None:
                values += args[positions[name]:positions[name] + 1]
            actions |= {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
    return actions


def test_every_action_asked_is_registered_and_every_registered_one_is_asked():
    create_app({"TESTING": True})  # the installed domains' init_app register their rules
    asked = _asked_actions(_modules())
    registered = set(registered_actions())
    assert asked - registered == set(), "asked but registered nowhere (always denied)"
    assert registered - asked == set(), "registered but never asked"
    assert {"item:read", "collection:read", "asset:download", "uploads:housekeeping", "oauth:introspect"} <= asked
