"""Load a registry YAML file into typed accounts, with errors that name file, line and field.

PyYAML's composer gives every node its line, so we walk the node tree ourselves instead of
``yaml.safe_load``: a plain dict has already forgotten where each value came from, and a user
fixing ``accounts.yaml`` needs ``accounts.yaml:14`` rather than a pydantic stack trace.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from registry.base import SECRET_VALUE_PATTERNS, shown
from registry.model import PROVIDER_MODELS, Account, Registry, account_model_for

DEFAULT_HOME = ".costlake"

# Keys whose *values* would be secrets. Secrets travel by reference only (env var name, profile,
# key file path), so any of these written inline is refused before anything else is read.
_SECRET_KEYS = {
    "secret_access_key",
    "aws_secret_access_key",
    "access_key_id",
    "aws_access_key_id",
    "session_token",
    "password",
    "client_secret",
    "sas_token",
    "connection_string",
    "account_key",
    "private_key",
    "pass_phrase",
    "passphrase",
    "service_account_key",  # GCP: a JSON key pasted inline (service_account_key_file takes the PATH)
    "key_content",
    "token",
    "api_key",
    "webhook_url",  # alerts: a Slack incoming-webhook URL lets anyone post; name its variable (webhook_url_env)
}
class RegistryError(ValueError):
    """A registry file is not valid. ``problems`` holds one 'file:line: field: message' per issue."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def resolve_registry_path(cli_value: str | os.PathLike[str] | None = None, home: Path | None = None) -> Path:
    """``--registry`` wins, then ``COSTLAKE_REGISTRY``, then ``<home>/registry.yaml`` (written by ``costlake demo``)."""
    if cli_value:
        return Path(cli_value)
    env_value = os.environ.get("COSTLAKE_REGISTRY")
    if env_value:
        return Path(env_value)
    if home is not None and (home / "registry.yaml").exists():
        return home / "registry.yaml"
    raise RegistryError(
        [
            "no registry given: pass --registry PATH or set COSTLAKE_REGISTRY "
            "(or run `costlake demo`, which writes <home>/registry.yaml)"
        ]
    )


def _key_label(key: object) -> str:
    """A mapping key as messages show it: a key that is not a plain field name might be a pasted secret."""
    text = str(key)
    return text if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", text) else f"<a key of {len(text)} character(s)>"


class _Located:
    """A plain Python value plus the line (1-based) of each mapping key, for error messages."""

    def __init__(self, value: Any, line: int, key_lines: dict[str, int] | None = None):
        self.value = value
        self.line = line
        self.key_lines = key_lines or {}


def _compose(node: yaml.Node, file: str, problems: list[str]) -> _Located:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            key_line = key_node.start_mark.line + 1
            if key in result:
                problems.append(
                    f"{file}:{key_line}: '{_key_label(key)}' appears twice in the same mapping "
                    f"(first on line {key_lines[key]}); keep one"
                )
                continue
            result[key] = _compose(value_node, file, problems)
            key_lines[key] = key_line
        return _Located(result, line, key_lines)
    if isinstance(node, yaml.SequenceNode):
        return _Located([_compose(item, file, problems) for item in node.value], line)
    # Scalars: let YAML's resolver decide the type (int, bool, null, str) like safe_load would,
    # so a quoted "012345678901" stays a string and an unquoted one is visibly an int.
    constructor = yaml.SafeLoader.construct_scalar
    tag = node.tag
    raw = constructor(yaml.SafeLoader(""), node)  # type: ignore[arg-type]
    if tag == "tag:yaml.org,2002:int":
        try:
            return _Located(int(raw.replace("_", ""), 0) if raw.startswith(("0x", "0o")) else int(raw), line)
        except ValueError:
            return _Located(raw, line)
    if tag == "tag:yaml.org,2002:bool":
        return _Located(raw.lower() in ("true", "yes", "on"), line)
    if tag == "tag:yaml.org,2002:null":
        return _Located(None, line)
    if tag == "tag:yaml.org,2002:float":
        return _Located(raw, line)  # floats are never valid registry values; keep the text
    return _Located(raw, line)


def _plain(located: _Located) -> Any:
    value = located.value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _line_of(located: _Located, loc: tuple[Any, ...]) -> int:
    """Walk a pydantic error location back through the located tree to the nearest line."""
    line = located.line
    current: _Located | None = located
    for part in loc:
        if current is None:
            break
        if isinstance(current.value, dict) and isinstance(part, str):
            if part in current.key_lines:
                line = current.key_lines[part]
            current = current.value.get(part)
        elif isinstance(current.value, list) and isinstance(part, int) and part < len(current.value):
            current = current.value[part]
            line = current.line
        else:
            # pydantic adds union-member names (e.g. 'list[...]') to locations; skip them.
            continue
    return line


def _find_inline_secrets(located: _Located, file: str, path: str, problems: list[str]) -> None:
    value = located.value
    if isinstance(value, dict):
        for key, item in value.items():
            child_path = f"{path}.{_key_label(key)}" if path else _key_label(key)
            if key.lower() in _SECRET_KEYS and item.value not in (None, ""):
                problems.append(
                    f"{file}:{located.key_lines[key]}: {child_path}: secrets must not be written in the "
                    f"registry; put the value in an environment variable and name it with "
                    f"'{key}_env: VARIABLE_NAME' (or use a profile / key file path)"
                )
                continue
            _find_inline_secrets(item, file, child_path, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _find_inline_secrets(item, file, f"{path}[{index}]", problems)
    elif isinstance(value, str) and any(pattern.search(value) for pattern in SECRET_VALUE_PATTERNS):
        problems.append(
            f"{file}:{located.line}: {path}: this value looks like a credential; secrets must not "
            "be written in the registry: reference an environment variable, profile or key file"
        )


_MAX_ALIAS_PROBLEMS = 10
# A registry is a few levels deep (accounts > entry > exports > actual); PyYAML composes nodes recursively,
# so a file nested thousands of levels deep would end in a RecursionError instead of a located message.
_MAX_DEPTH = 32


def _refuse_aliases(text: str, file: str) -> None:
    """Refuse YAML anchors (&name) and aliases (*name, including '<<: *name' merges) from the parser's event
    stream, before any node is built: nested aliases expand exponentially (nine levels of a 'billion laughs'
    file kept `registry validate` busy for minutes at 1 GB), and a registry never needs them."""
    problems: list[str] = []
    found = depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > _MAX_DEPTH:
                raise RegistryError(
                    [f"{file}:{event.start_mark.line + 1}: nested more than {_MAX_DEPTH} levels deep; a registry "
                     "entry needs a few levels (accounts > entry > exports > actual)"]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        anchor = getattr(event, "anchor", None)
        if anchor is None:
            continue
        found += 1
        if len(problems) < _MAX_ALIAS_PROBLEMS:
            kind = f"alias '*{anchor}'" if isinstance(event, yaml.AliasEvent) else f"anchor '&{anchor}'"
            problems.append(
                f"{file}:{event.start_mark.line + 1}: {kind}: YAML aliases are not allowed in the registry; "
                "write the value out"
            )
    if problems:
        if found > len(problems):
            problems.append(f"{file}: ... and {found - len(problems)} more YAML anchor(s)/alias(es)")
        raise RegistryError(problems)


def _format_loc(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and ("[" in part or part.startswith(("function-", "literal["))):
            continue  # pydantic's union-member tags, meaningless to a user
        else:
            text += f".{_key_label(part)}" if text else _key_label(part)
    return text


def load_registry(path: str | os.PathLike[str]) -> Registry:
    """Read and validate a registry file; raise RegistryError listing every problem found."""
    file_path = Path(path)
    file = str(file_path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError([f"{file}: registry file not found; pass --registry PATH or set COSTLAKE_REGISTRY"]) from None
    except OSError as error:
        raise RegistryError([f"{file}: cannot read the registry file: {error.strerror}"]) from None
    try:
        _refuse_aliases(text, file)
        root_node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        problem = getattr(error, "problem", None) or str(error)
        raise RegistryError([f"{where}: malformed YAML: {problem}; fix the indentation/quoting there"]) from None
    if root_node is None:
        raise RegistryError([f"{file}:1: the registry is empty; it needs a top-level 'accounts:' list"])

    problems: list[str] = []
    root = _compose(root_node, file, problems)
    if not isinstance(root.value, dict) or "accounts" not in root.value:
        raise RegistryError(problems + [f"{file}:{root.line}: the registry needs a top-level 'accounts:' list"])
    _find_inline_secrets(root, file, "", problems)
    accounts_node = root.value["accounts"]
    if not isinstance(accounts_node.value, list):
        raise RegistryError(problems + [f"{file}:{accounts_node.line}: 'accounts' must be a list of entries"])

    accounts: list[tuple[int, Account]] = []
    for index, entry in enumerate(accounts_node.value):
        where = f"accounts[{index}]"
        if not isinstance(entry.value, dict):
            problems.append(f"{file}:{entry.line}: {where}: each account must be a mapping with key/provider/...")
            continue
        provider = _plain(entry.value["provider"]) if "provider" in entry.value else None
        model = account_model_for(provider)
        if model is None:
            line = entry.key_lines.get("provider", entry.line)
            problems.append(
                f"{file}:{line}: {where}.provider: expected one of {', '.join(PROVIDER_MODELS)}; got {shown(provider)}"
            )
            continue
        try:
            accounts.append((index, model.model_validate(_plain(entry))))
        except ValidationError as error:
            for detail in error.errors():
                loc = tuple(detail["loc"])
                if detail["type"] == "extra_forbidden" and str(loc[-1]).lower() in _SECRET_KEYS:
                    continue  # already reported as an inline secret, with the fix
                field = _format_loc(loc)
                message = _message(detail)
                problems.append(f"{file}:{_line_of(entry, loc)}: {where}.{field}: {message}")

    failed_keys = {
        str(_plain(entry.value["key"]))
        for index, entry in enumerate(accounts_node.value)
        if isinstance(entry.value, dict) and "key" in entry.value and index not in {i for i, _ in accounts}
    }
    for message in Registry.cross_check(accounts):
        if any(f"no entry has key '{key}'" in message for key in failed_keys):
            continue  # that payer entry has its own error above; don't report the same problem twice
        index = _account_index_in(message)
        entry = accounts_node.value[index] if index is not None else root
        field = message.split(":", 1)[0].rsplit(".", 1)[-1]
        problems.append(f"{file}:{entry.key_lines.get(field, entry.line)}: {message}")
    if problems:
        raise RegistryError(problems)
    settings = {key: _plain(value) for key, value in root.value.items() if key != "accounts"}
    try:
        return Registry(accounts=[account for _, account in accounts], source_file=file, **settings)
    except ValidationError as error:
        raise RegistryError(
            [
                f"{file}:{root.key_lines.get(str(d['loc'][0]), root.line)}: {_format_loc(tuple(d['loc']))}: {_message(d)}"
                for d in error.errors()
            ]
        ) from None


def _message(detail: Any) -> str:
    if detail["type"] == "extra_forbidden" and detail["loc"] and detail["loc"][-1] == "accept_shrink":
        # Written into the registry it would stay on for every later run, and every later wipe would pass.
        return (
            "accepting a month that shrinks is a decision for one run, not a setting: run `costlake run "
            "--accept-shrink` once, or raise max_shrink_percent (0-100) for the entry or at the top level"
        )
    return str(detail["msg"]).removeprefix("Value error, ")


def _account_index_in(message: str) -> int | None:
    match = re.match(r"accounts\[(\d+)\]", message)
    return int(match.group(1)) if match else None
