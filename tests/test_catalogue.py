"""tools.yaml matches the seed catalogue and Xero's operations, and publishes flat, compact schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from xero_contacts_mcp.tools.catalogue import Catalogue, CatalogueError, load_catalogue
from xero_contacts_mcp.tools.schema import input_schema, output_schema

DATA = Path(__file__).parent / "data"
SEED: dict[str, Any] = json.loads((DATA / "seed_tools.json").read_text())
OPERATIONS = {op["tool"]: op for op in json.loads((DATA / "operations.json").read_text())}

# The documented differences from the seed catalogue: the configured default tenant is injected, and what
# the server insists on is published as required (the seed calls these optional; Xero refuses them missing).
OPTIONAL_ON_PURPOSE = {"xero-tenant-id"}
REQUIRED_ON_PURPOSE = {
    ("xero_contacts_create_contacts", "Contacts"), ("xero_contacts_update_contact", "Contacts"),
    ("xero_contacts_update_or_create_contacts", "Contacts"), ("xero_contacts_create_contact_group", "ContactGroups"),
    ("xero_contacts_update_contact_group", "ContactGroups"), ("xero_contacts_create_contact_group_contacts", "Contacts"),
    ("xero_contacts_create_tracking_category", "Name"), ("xero_contacts_create_tracking_options", "Name"),
}

JSON_TYPE = {"string": "string", "integer": "integer", "boolean": "boolean", "object": "object",
             "object[]": "array", "string[]": "array"}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def test_the_22_seed_tools_and_no_others(catalogue: Catalogue) -> None:
    assert sorted(t.name for t in catalogue.tools) == sorted(SEED)


def test_96_parameters_with_the_seed_names_types_and_required_flags(catalogue: Catalogue) -> None:
    count = 0
    for name, seed in SEED.items():
        schema = input_schema(catalogue.by_name[name], catalogue)
        assert list(schema["properties"]) == [p["name"] for p in seed["params"]], name
        for param in seed["params"]:
            count += 1
            published = schema["properties"][param["name"]]
            assert published["type"] == JSON_TYPE[param["type"]], (name, param["name"])
            if param["type"].endswith("[]"):
                item_type = "object" if param["type"] == "object[]" else "string"
                assert published.get("items", {"type": item_type})["type"] == item_type
            required = param["name"] in schema.get("required", [])
            expected = (param["required"] and param["name"] not in OPTIONAL_ON_PURPOSE) or (
                (name, param["name"]) in REQUIRED_ON_PURPOSE)
            assert required == expected, (name, param["name"])
    assert count == 96


# The seed's sentence, with its grammar and wording mistakes corrected (a blind review read them literally:
# "Creates contacts to a group" as creating contacts, "the contact Id" of a group as a ContactID).
SEED_CORRECTED = {
    "xero_contacts_get_contact": "Retrieves a specific contact in a Xero organisation using a unique contact Id",
    "xero_contacts_get_contact_groups": "Retrieves the ContactGroupID and Name of each contact group",
    "xero_contacts_get_tracking_category": "Retrieves a specific tracking category and its options using a "
                                           "unique tracking category Id",
    "xero_contacts_create_tracking_category": "Create a tracking category",
    "xero_contacts_create_tracking_options": "Creates an option for a specific tracking category",
    "xero_contacts_create_contact_group_contacts": "Adds existing contacts to a specific contact group",
}


def test_descriptions_start_with_the_seed_sentence(catalogue: Catalogue) -> None:
    for tool in catalogue.tools:
        assert tool.description.startswith(SEED_CORRECTED.get(tool.name, SEED[tool.name]["description"])), tool.name


@pytest.mark.parametrize("name", sorted(SEED))
def test_locations_methods_and_paths_are_xeros(catalogue: Catalogue, name: str) -> None:
    tool, op = catalogue.by_name[name], OPERATIONS[name]
    assert (tool.method, tool.path) == (op["method"], op["path"])
    assert {p.name for p in tool.located("header")} == {h["name"] for h in op["headers"]}
    assert {p.name for p in tool.located("path")} == {p["name"] for p in op["path_params"]}
    assert {p.name for p in tool.located("query")} == {q["name"] for q in op["query_params"]}
    assert bool(tool.located("body")) == bool(op["body_schema"])
    assert set(tool.scopes) <= set(op["scopes"])
    for param in tool.located("path"):
        expected_uuid = next(p for p in op["path_params"] if p["name"] == param.name)["type"] == "string(uuid)"
        assert (param.format == "uuid") == expected_uuid, param.name


def _walk(node: Any) -> Any:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@pytest.mark.parametrize("name", sorted(SEED))
def test_input_schema_is_flat_valid_json_schema(catalogue: Catalogue, name: str) -> None:
    schema = input_schema(catalogue.by_name[name], catalogue)
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    for node in _walk(schema):
        if isinstance(node, dict):
            assert not {"$ref", "$defs", "definitions"} & set(node), name
    assert not {"anyOf", "oneOf", "allOf"} & set(schema)
    out = output_schema(catalogue.by_name[name], catalogue)
    if out is not None:
        Draft202012Validator.check_schema(out)
        assert out["type"] == "object"


def test_writable_contact_fields_are_all_typed(catalogue: Catalogue) -> None:
    schema = input_schema(catalogue.by_name["xero_contacts_create_contacts"], catalogue)
    item = schema["properties"]["Contacts"]["items"]
    for key, schema in item["properties"].items():
        assert "type" in schema or schema.get("readOnly") is True, key
    for key in ("Name", "ContactNumber", "Addresses", "Phones", "ContactPersons", "PaymentTerms",
                "DefaultCurrency", "BatchPayments", "SalesTrackingCategories", "ContactStatus"):
        assert key in item["properties"], key
    # A new contact has no fetched record to echo: its read-only fields are not advertised (still accepted),
    # except ContactGroups, whose note names the tool that adds a contact to a group.
    assert item["properties"]["ContactGroups"].get("readOnly") is True
    assert not {"UpdatedDateUTC", "Balances", "IsSupplier", "IsCustomer", "ContactID"} & set(item["properties"])
    update = input_schema(catalogue.by_name["xero_contacts_update_contact"], catalogue)["properties"]["Contacts"]
    for read_only in ("UpdatedDateUTC", "Balances", "IsSupplier", "IsCustomer", "ContactGroups"):
        assert update["items"]["properties"][read_only].get("readOnly") is True, read_only  # echoing one is harmless
    assert "HasValidationErrors" not in item["properties"]  # dropped silently, but not worth advertising
    assert item["required"] == ["Name"]


def test_membership_items_read_only_the_contact_id(catalogue: Catalogue) -> None:
    item = input_schema(catalogue.by_name["xero_contacts_create_contact_group_contacts"],
                        catalogue)["properties"]["Contacts"]["items"]
    assert item == {"type": "object", "properties": {"ContactID": {"type": "string", "format": "uuid"}},
                    "required": ["ContactID"]}


@pytest.mark.parametrize("name", sorted(SEED))
def test_annotations_follow_the_naming_rules(catalogue: Catalogue, name: str) -> None:
    hints = catalogue.by_name[name].annotations
    verb = name.removeprefix("xero_contacts_").split("_")[0]
    assert hints.openWorldHint is True
    if verb == "get":
        assert (hints.readOnlyHint, hints.destructiveHint, hints.idempotentHint) == (True, False, True)
    else:
        assert hints.readOnlyHint is False
        assert hints.destructiveHint is (verb in ("update", "delete"))
    if verb in ("update", "delete") and name != "xero_contacts_update_or_create_contacts":
        assert hints.idempotentHint is True


BROKEN = [
    ("  - name: xero_contacts_get_contact\n    title: Get a contact\n",
     "  - name: xero_contacts_get_contact\n    titel: Get a contact\n",
     "tool xero_contacts_get_contact: titel: unknown key"),
    ("    annotations: {readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true}\n"
     "    method: GET\n    path: /Contacts/{ContactID}\n",
     "    annotations: {readOnlyHint: true, destructiveHint: false, idempotentHint: true}\n"
     "    method: GET\n    path: /Contacts/{ContactID}\n",
     "tool xero_contacts_get_contact: annotations.openWorldHint: Field required"),
    ("    path: /Contacts/{ContactNumber}\n", "    path: /Contacts/{Number}\n",
     "tool xero_contacts_get_contact_by_contact_number: path /Contacts/{Number} placeholders"),
    ("      - name: If-Modified-Since\n        in: header\n", "      - name: If-Modified-Since\n        in: cookie\n",
     "tool xero_contacts_get_contacts: params[If-Modified-Since].in: Input should be"),
    ("items: {ref: ContactRef}", "items: {ref: ContactReference}",
     "tool xero_contacts_create_contact_group_contacts: parameter Contacts[]: ref 'ContactReference'"),
    ("      UpdatedDateUTC:\n", "      UpdatedDateUTC:\n      Website2:\n",
     "Contact: read_only fields must also be in ignore"),
    ("        default: 1\n", "        default: one\n", "params[page].default: Input should be a valid integer"),
    ("      unless: [IDs]\n", "      unless: [ContactIDs]\n", "compact.unless names unknown parameter 'ContactIDs'"),
    ("    requested:\n      param: IDs\n", "    requested:\n      param: ContactIDs\n",
     "requested names unknown parameter 'ContactIDs'"),
    ("    follows: The contact with ContactID \\S+ could not be found\n", "    follows: The contact (\n",
     "follows is not a regular expression"),
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN, ids=["unknown-key", "missing-hint", "placeholder",
                                                                 "location", "ref", "read-only", "default",
                                                                 "compact", "requested", "follows"])
def test_a_mistake_in_tools_yaml_names_the_tool_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    source = load_path().read_text()
    assert old in source, "the fixture text must exist in tools.yaml"
    broken = tmp_path / "tools.yaml"
    broken.write_text(source.replace(old, new, 1))
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(broken)
    assert message in str(caught.value)


def load_path() -> Path:
    from xero_contacts_mcp.tools.catalogue import default_path

    return default_path()
