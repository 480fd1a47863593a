# SPDX-License-Identifier: MIT
"""Redfish checks for the end-to-end tests, offline.

- Validator: validates a Redfish response body against the DMTF JSON
  schemas in ../shared/redfish/json-schema with python3-jsonschema. The
  schemas' "$ref"s name http://redfish.dmtf.org/schemas/v1/X.json; they are
  read from that directory instead, never from the network. The schema of
  a resource comes from its "@odata.type" ("#Session.v1_8_0.Session" ->
  Session.v1_8_0.json, definition Session); error bodies are checked
  against redfish-error.v1_0_2.json.
- walk(): follows every "@odata.id" from /redfish/v1 and checks each body
  (200, the schema, collections' counts); its result maps paths to bodies.
- metadata_namespaces() / check_metadata(): the namespaces $metadata
  includes, and that every "@odata.type" served is among them and defined
  in ../shared/redfish/csdl.

Usage, from any test (the other Redfish suites reuse it):

    from redfish_schema import Validator, walk
    v = Validator()
    bodies = walk(lambda p: session.get(base + p), v)
"""
import json
import os
import re
import xml.etree.ElementTree as ET
from urllib.parse import urldefrag

import jsonschema

SHARED = os.environ.get("KUMO_REDFISH_SHARED") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "redfish"))
SCHEMA_DIR = os.path.join(SHARED, "json-schema")
CSDL_DIR = os.path.join(SHARED, "csdl")
DMTF = "http://redfish.dmtf.org/schemas/v1/"
ERROR_SCHEMA = "redfish-error.v1_0_2.json"
EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"


class Validator:
    """Validates bodies against the local copies of the DMTF schemas."""

    def __init__(self, schema_dir=SCHEMA_DIR):
        self.dir = schema_dir
        self._docs = {}
        self._resolver = jsonschema.RefResolver(DMTF, {}, handlers={"http": self._load_uri})

    def _load_uri(self, uri):
        uri, _ = urldefrag(uri)
        if not uri.startswith(DMTF):
            raise ValueError("schema outside the DMTF set: %s" % uri)
        return self._load(uri[len(DMTF):])

    def _load(self, name):
        if name not in self._docs:
            path = os.path.join(self.dir, name)
            if not os.path.exists(path):
                path = self._newest(name)
            with open(path) as f:
                self._docs[name] = json.load(f)
        return self._docs[name]

    def _newest(self, name):
        """The directory holds the newest version of each schema only; the
        unversioned schemas' anyOf name every version. An older version is
        read as the newest one of the same major version, its superset."""
        m = re.match(r"^([A-Za-z0-9]+)\.v(\d+)_\d+_\d+\.json$", name)
        if m:
            pat = re.compile(r"^%s\.v%s_(\d+)_(\d+)\.json$" % (m.group(1), m.group(2)))
            found = [(tuple(int(x) for x in pm.groups()), f) for f in os.listdir(self.dir)
                     for pm in [pat.match(f)] if pm]
            if found:
                return os.path.join(self.dir, max(found)[1])
        raise FileNotFoundError("no schema %s in %s" % (name, self.dir))

    @staticmethod
    def schema_file(odata_type):
        """('Session.v1_8_0.json', 'Session') for '#Session.v1_8_0.Session'."""
        m = re.match(r"^#([A-Za-z0-9]+)(\.v\d+_\d+_\d+)?\.([A-Za-z0-9]+)$", odata_type or "")
        if not m:
            raise ValueError("not a Redfish @odata.type: %r" % odata_type)
        return m.group(1) + (m.group(2) or "") + ".json", m.group(3)

    def errors(self, body):
        """The validation errors of body (a list of strings, empty if valid)."""
        if isinstance(body, dict) and "error" in body and "@odata.type" not in body:
            name, ref = ERROR_SCHEMA, "#/definitions/RedfishError"
        else:
            name, definition = self.schema_file(body.get("@odata.type"))
            ref = "#/definitions/%s" % definition
        self._load(name)
        schema = {"$ref": DMTF + name + ref}
        v = jsonschema.Draft7Validator(schema, resolver=self._resolver)
        return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(top)", e.message)
                for e in v.iter_errors(body)]

    def check(self, body, where=""):
        """Raises AssertionError with every error when body is not valid."""
        errs = self.errors(body)
        assert not errs, "%s does not match its schema:\n  %s\n%s" % (
            where or body.get("@odata.id", "body"), "\n  ".join(errs),
            json.dumps(body, indent=1)[:3000])


def links(body):
    """Every "@odata.id" path in body (fragments dropped), in order."""
    out = []

    def visit(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k == "@odata.id" and isinstance(x, str):
                    out.append(urldefrag(x)[0])
                else:
                    visit(x)
        elif isinstance(v, list):
            for x in v:
                visit(x)
    visit(body)
    return out


def norm(path):
    return path.rstrip("/") or "/"


def walk(get, validator=None, start="/redfish/v1", skip=()):
    """Breadth-first walk of the service from start. get(path) returns a
    requests.Response. Every resource must answer 200 with a valid body;
    collections must count their members. Returns {path: body}."""
    validator = validator or Validator()
    seen, queue, bodies = set(), [start], {}
    while queue:
        path = queue.pop(0)
        if norm(path) in seen or any(norm(path).startswith(s) for s in skip):
            continue
        seen.add(norm(path))
        r = get(path)
        assert r.status_code == 200, "GET %s -> %d %s" % (path, r.status_code, r.text[:500])
        assert r.headers.get("OData-Version") == "4.0", path
        body = r.json()
        validator.check(body, path)
        assert norm(body["@odata.id"]) == norm(path), (path, body["@odata.id"])
        if "Members" in body:
            assert body["Members@odata.count"] == len(body["Members"]) or \
                "Members@odata.nextLink" in body, path
        bodies[norm(path)] = body
        queue.extend(p for p in links(body) if p.startswith("/redfish/v1"))
    return bodies


def metadata_namespaces(xml_text):
    """{namespace: reference URI} of the Includes of a $metadata document."""
    root = ET.fromstring(xml_text)
    out = {}
    for ref in root.findall(EDMX + "Reference"):
        for inc in ref.findall(EDMX + "Include"):
            out[inc.get("Namespace")] = ref.get("Uri")
    return out


def type_namespace(odata_type):
    """'Session.v1_8_0' for '#Session.v1_8_0.Session'."""
    return odata_type.lstrip("#").rsplit(".", 1)[0]


def check_metadata(xml_text, bodies, csdl_dir=CSDL_DIR):
    """Every body's type is included by $metadata, and every included
    namespace is defined in the CSDL file its reference names."""
    ns = metadata_namespaces(xml_text)
    for path, body in bodies.items():
        t = type_namespace(body["@odata.type"])
        assert t in ns, "%s: %s is not in $metadata" % (path, t)
    for name, uri in ns.items():
        assert uri.startswith(DMTF), uri
        f = os.path.join(csdl_dir, uri[len(DMTF):])
        assert os.path.exists(f), "%s: no %s" % (name, f)
        with open(f) as fh:
            assert 'Namespace="%s"' % name in fh.read(), "%s is not defined in %s" % (name, f)
    return ns
