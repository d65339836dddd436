# pyright: strict
"""Conversion between result types and JSON Schema (draft 2020-12).

An event's ``event_result_type`` travels as a JSON Schema, so that a peer
written against abxbus (pydantic) can validate results the same way.
:func:`type_to_schema` writes the schema for a Python type and
:func:`schema_to_type` reads one back into a type that ``triobus.converter``
can structure values to.

The schemas written are the ones abxbus writes for the same type, key for key
and in the same key order: keys are sorted, the properties of an object keep
their declaration order, ``None`` comes last in a union, enums and attrs
classes live in ``$defs`` and are reached through ``$ref``, a class or enum at
the top is written inline (a reference back to it is ``"#"``), and the top
level carries ``"$schema"`` last. An attrs class is written the way pydantic
writes an equivalent model: ``title`` is the class name, ``description`` its
docstring, and each property has a ``title`` made from the field name and the
field's ``default`` when it has one that JSON can hold.

Reading a schema back cannot always restore the type that wrote it, because
several types share one schema. These are the normalisations, each a
consequence of the wire format rather than a choice:

- ``tuple[X, ...]`` reads back as ``list[X]``, and ``frozenset[X]`` as
  ``set[X]``: abxbus writes the same schema for each pair.
- ``object`` reads back as ``typing.Any``; the bare ``list``, ``set``,
  ``frozenset``, ``tuple`` and ``dict`` read back as ``list[Any]``,
  ``set[Any]``, ``set[Any]``, ``list[Any]`` and ``dict[str, Any]``.
- ``dict[int, X]`` reads back as ``dict[str, X]``: JSON object keys are
  strings.
- An array with ``prefixItems`` reads back as a fixed ``tuple[...]`` of those
  items, even when the schema would let more items follow (pydantic never
  writes such a schema, and a tuple has no way to say it).
- ``Annotated[X, ...]`` is written as ``X``; the metadata is not carried.
- An enum reads back as the ``Literal`` of its values, and an object with
  ``properties`` (an attrs class here, a pydantic model in abxbus) as
  ``dict[str, Any]``, since the receiving process may have no such class.
- Union members keep their order except that ``None`` moves to the end;
  unions compare equal regardless of order, so this is invisible to ``==``.
  Members that write the same schema are written once, as pydantic does, so
  ``list[int] | tuple[int, ...]`` reads back as ``list[int]``.

Reading never fails on a well-formed dict: whatever cannot be mapped to a
type (``allOf`` with several members, ``not``, references outside the
document, enum values that are arrays or objects, schemas nested deeper than
64 levels) reads as ``typing.Any``, which means "not validated".
"""

from __future__ import annotations

import enum
import functools
import inspect
import json
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Final, Literal, Union, cast, final

import attrs

__all__ = ["JSON_SCHEMA_DRAFT", "schema_to_type", "type_to_schema"]

JSON_SCHEMA_DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
"""The ``$schema`` value written at the top of every non-empty schema."""

_CACHE_SIZE: Final = 1024
_MAX_DEPTH: Final = 64

_Schema = dict[str, object]

_PRIMITIVE_SCHEMAS: Final[Mapping[object, str]] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
_PRIMITIVE_TYPES: Final[Mapping[str, object]] = {
    name: tp for tp, name in _PRIMITIVE_SCHEMAS.items()
}

# ``attrs.Factory`` is typed as returning the factory's product, so the class
# is taken from an instance to keep ``isinstance`` checks honest.
_FACTORY_TYPE: Final[type[object]] = type(attrs.Factory(object))

# Keywords whose values are data, not schemas: they are neither key-sorted nor
# searched for references.
_DATA_KEYWORDS: Final = frozenset({"const", "default", "enum", "examples"})

_TUPLE_GENERIC: Final[object] = typing.Tuple  # noqa: UP006


class _NotJSON:
    """Marks a default that JSON cannot hold, so the schema leaves it out."""


_NOT_JSON: Final = _NotJSON()


def type_to_schema(tp: object) -> dict[str, object] | None:
    """Write the JSON Schema for a result type.

    Results of the same type always get equal schemas; the result is cached,
    and every call returns a fresh copy that the caller may change.

    Args:
        tp: The result type, or ``None`` when results are not validated.

    Returns:
        The schema, or ``None`` when ``tp`` is ``None``. ``typing.Any`` and
        ``object`` give ``{}``, which abxbus writes without ``$schema``.

    Raises:
        TypeError: ``tp`` is not built from ``str``, ``int``, ``float``,
            ``bool``, ``None``, ``list``, ``set``, ``frozenset``, ``tuple``,
            ``dict`` with ``str`` or ``int`` keys, unions, ``Literal``, enums
            and attrs classes. The message names the offending type; a note
            names the attrs field it was found in.

    Example:
        >>> type_to_schema(list[int])  # doctest: +NORMALIZE_WHITESPACE
        {'items': {'type': 'integer'}, 'type': 'array',
         '$schema': 'https://json-schema.org/draft/2020-12/schema'}
    """
    if tp is None:
        return None

    # Union members compare equal in any order, so the repr joins the key to
    # keep ``str | int`` and ``int | str`` from sharing one cached anyOf order.
    try:
        key = (tp, repr(tp))
        hash(key)
    except TypeError:
        schema = _write_schema(tp)
    else:
        schema = _write_schema_cached(key)
    return cast(_Schema, _copy_json(schema))


def schema_to_type(schema: object) -> object:
    """Read a JSON Schema back into a result type.

    See the module docstring for what each schema reads as. The result is
    cached by the schema's content.

    Args:
        schema: A JSON Schema as a dict, for example the ``event_result_type``
            of an event dumped by abxbus.

    Returns:
        A type that ``triobus.converter`` can structure values to;
        ``typing.Any`` for any part that does not map to a type.

    Raises:
        TypeError: ``schema`` is not a dict.

    Example:
        >>> schema_to_type({"anyOf": [{"type": "string"}, {"type": "null"}]})
        typing.Optional[str]
    """
    if not isinstance(schema, dict):
        msg = f"a JSON Schema must be a dict, not {type(schema).__name__}"
        raise TypeError(msg)

    # A dict is unhashable, so its canonical JSON text is the cache key. A
    # dict that JSON cannot hold (odd keys or values, cycles) is still read,
    # just without the cache.
    try:
        key = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return _SchemaReader(cast(_Schema, schema)).read()
    return _read_schema_cached(key)


# Writing.


def _write_schema(tp: object) -> _Schema:
    writer = _SchemaWriter()
    return writer.finish(writer.schema(tp))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _write_schema_cached(key: tuple[object, str]) -> _Schema:
    return _write_schema(key[0])


@final
class _Ref:
    """Stands for a ``$ref`` to a class until every ``$defs`` name is known."""

    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        self.cls = cls


class _SchemaWriter:
    """Writes one schema, collecting the enums and attrs classes it meets."""

    def __init__(self) -> None:
        self._defs: dict[type, _Schema] = {}

    def schema(self, tp: object) -> _Schema:
        """Write the schema for ``tp``, with class references left as `_Ref`."""
        if tp is Any or tp is object:
            return {}
        primitive = _PRIMITIVE_SCHEMAS.get(tp) if isinstance(tp, type) else None
        if primitive is not None:
            return {"type": primitive}
        named = _named_class(tp)
        if named is not None:
            return self._reference(named)
        # A bare ``typing.Tuple`` has no arguments, like ``tuple[()]``, so the
        # bare containers are told apart before their arguments are read.
        if tp is _TUPLE_GENERIC:
            return self._container(tuple, None)
        if tp in (list, set, frozenset, tuple, dict):
            return self._container(tp, None)

        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is Annotated:
            return self.schema(args[0])
        if origin is Literal:
            return _literal_schema(args)
        if origin is Union or origin is types.UnionType:
            return self._union(args)
        if origin in (list, set, frozenset, tuple, dict):
            return self._container(origin, args)

        raise _unsupported(tp)

    def finish(self, body: _Schema) -> _Schema:
        """Resolve references, inline a top-level class and add ``$schema``."""
        refs = _def_names(self._defs)
        root_ref = body.get("$ref")
        if len(body) == 1 and isinstance(root_ref, _Ref):
            refs[root_ref.cls] = "#"
            body = self._defs.pop(root_ref.cls)

        schema = dict(body)
        if self._defs:
            schema["$defs"] = {refs[cls]: d for cls, d in self._defs.items()}
        schema = cast(_Schema, _finalise(schema, refs))

        # abxbus leaves the empty schema of ``Any`` without ``$schema``.
        if schema:
            schema["$schema"] = JSON_SCHEMA_DRAFT
        return schema

    def _reference(self, cls: type[object]) -> _Schema:
        # The entry goes in before the class is written, so that a class that
        # refers to itself finds it and stops.
        if cls not in self._defs:
            self._defs[cls] = {}
            if issubclass(cls, enum.Enum):
                self._defs[cls].update(_enum_schema(cls))
            elif attrs.has(cls):
                self._defs[cls].update(self._attrs_schema(cls))
        return {"$ref": _Ref(cls)}

    def _union(self, args: tuple[object, ...]) -> _Schema:
        # As pydantic does: a member that is itself a union (through
        # ``Annotated``) is flattened into this one, members that write the
        # same schema are written once, and a lone member stands alone.
        members: list[_Schema] = []
        for arg in args:
            if arg is not type(None):
                member = self.schema(arg)
                nested = member.get("anyOf") if len(member) == 1 else None
                members.extend(cast(list[_Schema], nested) if nested else [member])
        if type(None) in args:
            members.append({"type": "null"})

        unique = list({_identity(member): member for member in members}.values())
        return unique[0] if len(unique) == 1 else {"anyOf": unique}

    def _container(self, origin: object, args: tuple[object, ...] | None) -> _Schema:
        """Write a list, set, tuple or dict; ``args`` is None when it is bare."""
        if origin is dict:
            key_type, value_type = args if args else (str, Any)
            if key_type not in (str, int, Any):
                msg = (
                    f"cannot write dict keys of type {key_type!r} as a JSON "
                    "Schema: JSON object keys are strings, so keys must be str "
                    "or int"
                )
                raise TypeError(msg)
            values = self.schema(value_type)
            return {"additionalProperties": values or True, "type": "object"}

        variadic = args is None or (len(args) == 2 and args[1] is Ellipsis)
        if origin is tuple and args is not None and not variadic:
            items = [self.schema(arg) for arg in args]
            schema: _Schema = {"maxItems": len(items), "minItems": len(items)}
            if items:
                schema["prefixItems"] = items
            schema["type"] = "array"
            return schema

        schema = {"items": self.schema(args[0]) if args else {}, "type": "array"}
        if origin is set or origin is frozenset:
            schema["uniqueItems"] = True
        return schema

    def _attrs_schema(self, cls: type[attrs.AttrsInstance]) -> _Schema:
        hints = _field_types(cls)
        properties: _Schema = {}
        required: list[str] = []
        for field in attrs.fields(cls):
            # cattrs neither writes nor reads fields left out of __init__.
            if not field.init:
                continue
            field_type = hints.get(field.name, field.type)
            try:
                if field_type is None or isinstance(field_type, str):
                    msg = f"the field has no resolvable type: {field_type!r}"
                    raise TypeError(msg)
                prop = self.schema(field_type)
            except TypeError as exc:
                exc.add_note(f"in field {field.name!r} of {cls.__qualname__}")
                raise

            # pydantic leaves the title off a field that is (or optionally is)
            # a class or enum reference.
            if not _is_reference(field_type):
                prop["title"] = field.name.title().replace("_", " ")
            if field.default is attrs.NOTHING:
                required.append(field.name)
            elif not isinstance(field.default, _FACTORY_TYPE):
                default = _json_value(field.default)
                if default is not _NOT_JSON:
                    prop["default"] = default
            properties[field.name] = prop

        schema: _Schema = {}
        description = _description(cls)
        if description is not None:
            schema["description"] = description
        schema["properties"] = properties
        if required:
            schema["required"] = sorted(required)
        schema["title"] = cls.__name__
        schema["type"] = "object"
        return schema


def _identity(schema: _Schema) -> str:
    """Return a key that is equal for equal schemas, and only for them.

    Python's ``==`` would take ``{"const": 1}`` and ``{"const": True}`` as
    equal, so the canonical JSON text is compared instead.
    """

    def reference(ref: object) -> str:
        return f"$ref:{id(cast(_Ref, ref).cls)}"

    return json.dumps(schema, sort_keys=True, default=reference)


def _unsupported(tp: object) -> TypeError:
    return TypeError(
        f"cannot write {tp!r} as a JSON Schema: result types must be built from "
        "str, int, float, bool, None, list, set, frozenset, tuple, dict, unions, "
        "Literal, enums and attrs classes"
    )


def _literal_schema(args: tuple[object, ...]) -> _Schema:
    values: list[object] = []
    for arg in args:
        value = arg.value if isinstance(arg, enum.Enum) else arg
        if not _is_json_scalar(value):
            msg = (
                f"cannot write Literal value {arg!r} as a JSON Schema: values "
                "must be str, int, float, bool or None"
            )
            raise TypeError(msg)
        values.append(value)

    schema: _Schema = {"const": values[0]} if len(values) == 1 else {"enum": values}
    json_type = _common_json_type(values)
    if json_type is not None:
        schema["type"] = json_type
    return schema


def _enum_schema(cls: type[enum.Enum]) -> _Schema:
    values: list[object] = []
    for member in cls:
        if not _is_json_scalar(member.value):
            msg = (
                f"cannot write enum {cls.__qualname__} as a JSON Schema: the "
                f"value of {member!r} is not a str, int, float, bool or None"
            )
            raise TypeError(msg)
        values.append(member.value)

    schema: _Schema = {}
    description = _description(cls)
    if description is not None:
        schema["description"] = description
    schema["enum"] = values
    schema["title"] = cls.__name__
    json_type = _common_json_type(values)
    if json_type is not None:
        schema["type"] = json_type
    return schema


def _is_json_scalar(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int)


def _common_json_type(values: Sequence[object]) -> str | None:
    # As pydantic does, a type is named only when every value has the same
    # Python type; True and 1 count as different.
    kinds = {type(value) for value in values}
    if len(kinds) != 1:
        return None
    return _PRIMITIVE_SCHEMAS.get(kinds.pop())


def _is_reference(tp: object) -> bool:
    """Whether a field of type ``tp`` is written as a bare or optional ``$ref``."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _is_reference(typing.get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return len(members) == 1 and _is_reference(members[0])
    return _named_class(tp) is not None


def _named_class(tp: object) -> type[object] | None:
    """Return ``tp`` if it is an enum or attrs class, which go in ``$defs``."""
    if not isinstance(tp, type):
        return None
    cls = cast(type[object], tp)
    return cls if issubclass(cls, enum.Enum) or attrs.has(cls) else None


def _field_types(cls: type) -> dict[str, object]:
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:  # any failure to evaluate a hint
        msg = (
            f"cannot write attrs class {cls.__qualname__} as a JSON Schema: its "
            f"annotations do not resolve ({type(exc).__name__}: {exc})"
        )
        raise TypeError(msg) from exc


def _description(cls: type) -> str | None:
    # Enum classes without a docstring may inherit a default one.
    doc = cls.__dict__.get("__doc__")
    if not isinstance(doc, str) or not doc or doc == "An enumeration.":
        return None
    return inspect.cleandoc(doc)


def _json_value(value: object) -> object:
    """Return ``value`` as JSON data, or `_NOT_JSON` if it has no JSON form."""
    if isinstance(value, enum.Enum):
        return _json_value(value.value)
    if _is_json_scalar(value):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        items = [_json_value(item) for item in cast(Sequence[object], value)]
        return _NOT_JSON if _NOT_JSON in items else items
    if isinstance(value, dict):
        mapping = cast(dict[object, object], value)
        if not all(isinstance(key, str) for key in mapping):
            return _NOT_JSON
        converted = {key: _json_value(item) for key, item in mapping.items()}
        return _NOT_JSON if _NOT_JSON in converted.values() else converted
    return _NOT_JSON


def _def_names(classes: Iterable[type]) -> dict[type, str]:
    """Name each class in ``$defs``.

    A class is named by its ``__name__``. Classes that share one are named by
    module and qualified name instead, as pydantic does; if even those clash
    (a class was redefined), a counter tells them apart.
    """
    by_name: dict[str, list[type]] = {}
    for cls in classes:
        by_name.setdefault(cls.__name__, []).append(cls)

    names: dict[type, str] = {}
    taken: set[str] = set()
    for name, group in by_name.items():
        if len(group) == 1:
            names[group[0]] = name
            continue
        for cls in group:
            dotted = f"{cls.__module__}.{cls.__qualname__}".replace(".", "__")
            qualified = re.sub(r"\W", "_", dotted)
            unique, count = qualified, 1
            while unique in taken or unique in by_name:
                unique, count = f"{qualified}__{count}", count + 1
            names[cls] = unique
            taken.add(unique)
    return names


def _finalise(node: object, refs: Mapping[type, str], *, names: bool = False) -> object:
    """Sort keys and turn each `_Ref` into a reference string.

    Args:
        node: A schema, or a mapping of names to schemas when ``names`` is set.
        refs: The ``$defs`` name of each class; ``"#"`` for the root class.
        names: Whether ``node`` maps names to schemas (``properties`` keep
            their order, ``$defs`` are sorted).
    """
    if isinstance(node, _Ref):
        ref = refs[node.cls]
        return ref if ref == "#" else f"#/$defs/{ref}"
    if isinstance(node, list):
        return [_finalise(item, refs) for item in cast(list[object], node)]
    if not isinstance(node, dict):
        return node

    mapping = cast(_Schema, node)
    if names:
        return {key: _finalise(value, refs) for key, value in mapping.items()}
    result: _Schema = {}
    for key in sorted(mapping):
        value = mapping[key]
        if key in _DATA_KEYWORDS:
            result[key] = value
        elif key == "$defs":
            ordered = dict(sorted(cast(_Schema, value).items()))
            result[key] = _finalise(ordered, refs, names=True)
        else:
            result[key] = _finalise(value, refs, names=key == "properties")
    return result


def _copy_json(value: object) -> object:
    if isinstance(value, dict):
        mapping = cast(_Schema, value)
        return {key: _copy_json(item) for key, item in mapping.items()}
    if isinstance(value, list):
        return [_copy_json(item) for item in cast(list[object], value)]
    return value


# Reading.


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _read_schema_cached(text: str) -> object:
    return _SchemaReader(json.loads(text)).read()


class _SchemaReader:
    """Reads one schema document, resolving ``$ref`` against its root."""

    def __init__(self, root: object) -> None:
        self._root = root
        self._resolving: set[str] = set()
        # Each reference is read once: a document whose definitions refer to
        # each other twice over would otherwise cost time exponential in its
        # size, and documents come from the network.
        self._resolved: dict[str, object] = {}

    def read(self) -> object:
        """Read the whole document."""
        # The root is read as the target of ``#``, so that a reference back to
        # it counts as recursion.
        return self._read_ref("#", 0)

    def _read(self, node: object, depth: int) -> object:
        schema = _mapping(node)
        if schema is None or depth > _MAX_DEPTH:
            return Any
        depth += 1

        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self._read_ref(ref, depth)
        if "const" in schema:
            return _literal_type([schema["const"]])
        values = _sequence(schema.get("enum"))
        if values is not None:
            return _literal_type(values)
        for keyword in ("anyOf", "oneOf"):
            members = _sequence(schema.get(keyword))
            if members is not None:
                return _union_type([self._read(m, depth) for m in members])
        every = _sequence(schema.get("allOf"))
        if every is not None:
            return self._read(every[0], depth) if len(every) == 1 else Any

        json_type = schema.get("type")
        if isinstance(json_type, str):
            return self._read_typed(schema, json_type, depth)
        json_types = _sequence(json_type)
        if json_types is not None:
            return _union_type(
                [
                    self._read_typed(schema, item, depth)
                    if isinstance(item, str)
                    else Any
                    for item in json_types
                ]
            )
        return Any

    def _read_ref(self, ref: str, depth: int) -> object:
        # A reference met again while it is being read is a recursive type,
        # which no plain type can spell.
        if ref in self._resolving:
            return Any
        if ref in self._resolved:
            return self._resolved[ref]
        target = _resolve_pointer(self._root, ref)
        if target is None:
            return Any

        self._resolving.add(ref)
        try:
            result = self._read(target, depth)
        finally:
            self._resolving.discard(ref)
        self._resolved[ref] = result
        return result

    def _read_typed(
        self, schema: Mapping[str, object], json_type: str, depth: int
    ) -> object:
        if json_type == "array":
            return self._read_array(schema, depth)
        if json_type == "object":
            if _mapping(schema.get("properties")) is not None:
                return dict[str, Any]
            # ``True`` or no ``additionalProperties`` reads as Any values.
            values = self._read(schema.get("additionalProperties"), depth)
            return types.GenericAlias(dict, (str, values))
        return _PRIMITIVE_TYPES.get(json_type, Any)

    def _read_array(self, schema: Mapping[str, object], depth: int) -> object:
        prefix = _sequence(schema.get("prefixItems"))
        if prefix is not None:
            items = tuple(self._read(item, depth) for item in prefix)
            return types.GenericAlias(tuple, items)

        items_schema = schema.get("items")
        if items_schema is False or schema.get("maxItems") == 0:
            return tuple[()]
        item_type = self._read(items_schema, depth)
        origin = set if schema.get("uniqueItems") is True else list
        return types.GenericAlias(origin, (item_type,))


def _mapping(value: object) -> Mapping[str, object] | None:
    # Keys that are not strings can never match a keyword, so they are harmless.
    if isinstance(value, Mapping):
        return cast(Mapping[str, object], value)
    return None


def _sequence(value: object) -> Sequence[object] | None:
    if isinstance(value, list | tuple):
        return cast(Sequence[object], value)
    return None


def _resolve_pointer(root: object, ref: str) -> object | None:
    """Follow a reference within the document, or return None if it leads out."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return None
    node = root
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        mapping = _mapping(node)
        items = _sequence(node)
        if mapping is not None and part in mapping:
            node = mapping[part]
        elif items is not None and part.isdigit() and int(part) < len(items):
            node = items[int(part)]
        else:
            return None
    return node


def _literal_type(values: Sequence[object]) -> object:
    if not values or not all(_is_json_scalar(value) for value in values):
        return Any
    return cast(Any, Literal)[tuple(values)]


def _union_type(members: Sequence[object]) -> object:
    if not members:
        return Any
    return cast(Any, Union)[tuple(members)]
