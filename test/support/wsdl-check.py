# Reads the WSDL Sluice serves with two independent implementations: lxml's XML Schema validator
# checks each given element against the WSDL's schemas, and zeep (strict) reads each given
# answer envelope as the output of its operation. Prints one JSON result per input.
import json, os, sys, tempfile, urllib.request
from lxml import etree
from zeep import Client, Settings
from zeep.helpers import serialize_object

XSD = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"

def schema_of(wsdl_bytes):
    doc = etree.fromstring(wsdl_bytes)
    # The schemas are read whole when the validator is made: their files go with the folder.
    with tempfile.TemporaryDirectory() as folder:
        imports = []
        for n, schema in enumerate(doc.iterfind(f"{{{WSDL}}}types/{{{XSD}}}schema")):
            # each schema on its own, with the namespaces the definitions declared in scope
            standalone = etree.fromstring(etree.tostring(schema))
            path = os.path.join(folder, f"s{n}.xsd")
            with open(path, "wb") as f:
                f.write(etree.tostring(standalone))
            imports.append((schema.get("targetNamespace"), path))
        master = f'<xsd:schema xmlns:xsd="{XSD}">' + "".join(
            f'<xsd:import namespace="{ns}" schemaLocation="file://{p}"/>' for ns, p in imports) + "</xsd:schema>"
        return etree.XMLSchema(etree.fromstring(master.encode()))

def main():
    wsdl_url, endpoint = sys.argv[1], sys.argv[2]
    cases = json.load(sys.stdin)
    wsdl_bytes = urllib.request.urlopen(wsdl_url).read()
    schema = schema_of(wsdl_bytes)
    client = Client(wsdl_url, settings=Settings(strict=True))
    binding = next(iter(client.wsdl.bindings.values()))
    out = []
    for case in cases:
        if case["kind"] == "validate":
            ok = schema.validate(etree.fromstring(case["xml"].encode()))
            out.append({"valid": ok, "errors": [str(e) for e in schema.error_log]})
        else:
            request = urllib.request.Request(endpoint, data=case["xml"].encode(),
                headers={"content-type": "text/xml; charset=utf-8", "soapaction": '""'})
            body = urllib.request.urlopen(request).read()
            envelope = etree.fromstring(body)
            answer = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
            valid = schema.validate(answer)
            result = binding.get(case["operation"]).process_reply(envelope)
            out.append({"valid": valid, "errors": [str(e) for e in schema.error_log],
                        "read": json.loads(json.dumps(serialize_object(result), default=str))})
    print(json.dumps(out))

main()
