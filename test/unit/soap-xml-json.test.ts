import { expect } from "chai";
import { parseXml } from "../../adapter/soap/safe-xml";
import {
  copyJsonValue,
  elementToJson,
  jsonToXml,
  JsonToXmlError,
  xmlName,
  type JsonValue,
} from "../../adapter/soap/xml-json";

function json(xml: string): unknown {
  return elementToJson(parseXml(xml));
}

describe("SOAP body ⇄ JSON mapping", () => {
  it("leaf text stays a string, never coerced", () => {
    expect(json("<a>35</a>")).to.equal("35");
    expect(json("<a>true</a>")).to.equal("true");
    expect(json("<a>  padded </a>")).to.equal("  padded ");
    expect(json("<a/>")).to.equal("");
  });

  it("children by local name, repeated names as arrays, order kept", () => {
    expect(
      json(`<p:r xmlns:p="urn:p"><p:x>1</p:x><y>2</y><p:x>3</p:x><p:x>4</p:x></p:r>`),
    ).to.deep.equal({
      x: ["1", "3", "4"],
      y: "2",
    });
  });

  it("attributes as @name (declarations are not attributes), text as #text", () => {
    expect(json(`<a xmlns:q="urn:q" q:lang="et" id="1">tere</a>`)).to.deep.equal({
      "@lang": "et",
      "@id": "1",
      "#text": "tere",
    });
    expect(json(`<a id="1">\n  </a>`)).to.deep.equal({ "@id": "1" });
    expect(json(`<a>x<b>1</b>y</a>`)).to.deep.equal({ b: "1", "#text": "xy" });
  });

  it("one local name on two attributes (two namespaces): both values, in document order", () => {
    expect(
      json(`<a xmlns:p="urn:p" xmlns:q="urn:q" p:amount="5" q:amount="100000"/>`),
    ).to.deep.equal({ "@amount": ["5", "100000"] });
    expect(json(`<a xml:lang="et" lang="en" xmlns:p="urn:p" p:lang="fi"/>`)).to.deep.equal({
      "@lang": ["et", "en", "fi"],
    });
  });

  it("entities decoded, CDATA verbatim", () => {
    expect(json("<a>&lt;b&gt; &amp; &#x263A;<![CDATA[&amp;<raw>]]></a>")).to.equal(
      "<b> & ☺&amp;<raw>",
    );
  });

  it("names like toString stay plain data; __proto__ and constructor are refused", () => {
    const value = json(`<a toString="1"><toString>z</toString><valueOf/></a>`) as Record<
      string,
      unknown
    >;
    expect(Object.getPrototypeOf(value)).to.equal(Object.prototype);
    expect(value).to.deep.equal({ "@toString": "1", toString: "z", valueOf: "" });
    expect(
      json(`<a><hasOwnProperty>1</hasOwnProperty><hasOwnProperty>2</hasOwnProperty></a>`),
    ).to.deep.equal({ hasOwnProperty: ["1", "2"] });
    for (const name of ["__proto__", "constructor", "prototype"]) {
      expect(() => json(`<a><${name}>x</${name}></a>`), name).to.throw(/not well-formed/);
    }
    expect(({} as Record<string, unknown>).x).to.equal(undefined);
  });

  it("jsonToXml is the reverse for objects, arrays, attributes and scalars", () => {
    expect(jsonToXml({ name: "foo", age: 35, ok: true, none: null, tags: ["a", "b"] })).to.equal(
      "<name>foo</name><age>35</age><ok>true</ok><none/><tags>a</tags><tags>b</tags>",
    );
    expect(jsonToXml({ p: { "@lang": "et", "#text": 'a<b & "c"' } })).to.equal(
      '<p lang="et">a&lt;b &amp; &quot;c&quot;</p>',
    );
    const xml = `<r>${jsonToXml({ request: { name: "foo", list: ["1", "2"], "@v": "x" } })}</r>`;
    expect(json(xml)).to.deep.equal({ request: { name: "foo", list: ["1", "2"], "@v": "x" } });
    expect(jsonToXml(["a", "b"])).to.equal("<item>a</item><item>b</item>");
    expect(jsonToXml("plain & simple")).to.equal("plain &amp; simple");
  });

  it("jsonToXml refuses attributes no element carries, where it wrote elements or twice one name", () => {
    // The JSON view of <p a:lang="et" b:lang="en"/>: the namespaces are not in it.
    expect(() => jsonToXml({ p: { "@lang": ["et", "en"] } })).to.throw(
      JsonToXmlError,
      '"@lang" holds an array, not one attribute value',
    );
    expect(() => jsonToXml({ p: { "@meta": { a: "1" } } })).to.throw(JsonToXmlError, "an object");
    expect(() => jsonToXml({ p: { "@a b": "1", "@a_b": "2" } })).to.throw(
      JsonToXmlError,
      '"@a_b" is a second attribute named a_b',
    );
    expect(jsonToXml({ p: { "@lang": null, "@n": 1 } })).to.equal('<p lang="" n="1"/>');
  });

  it("JSON keys become valid XML names", () => {
    expect(xmlName("first name")).to.equal("first_name");
    expect(xmlName("1st")).to.equal("_st");
    expect(xmlName("xmlThing")).to.equal("_xmlThing");
    expect(xmlName("")).to.equal("_");
    expect(() => parseXml(`<r>${jsonToXml({ "a b": 1, "9": 2, "<x>": 3 })}</r>`)).to.not.throw();
  });

  it("copyJsonValue copies deeply: the copy can be coerced in place, the value stays", () => {
    const value = JSON.parse(
      '{"request": {"name": "foo", "tags": ["a", {"b": "c"}], "empty": null}, "n": 1}',
    ) as JsonValue;
    const copy = copyJsonValue(value) as { request: { tags: Array<{ b?: string }> } };
    expect(copy).to.deep.equal(value);
    copy.request.tags[1].b = "changed";
    expect(JSON.stringify(value)).to.include('"b":"c"');
  });

  it('copyJsonValue keeps a "__proto__" key as data, never as the copy\'s prototype', () => {
    const value = JSON.parse('{"__proto__": {"polluted": "yes"}, "a": "b"}') as JsonValue;
    const copy = copyJsonValue(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).to.equal(Object.prototype);
    expect(Object.keys(copy)).to.deep.equal(["__proto__", "a"]);
    expect((copy as { polluted?: string }).polluted).to.equal(undefined);
    expect(JSON.stringify(copy)).to.equal(JSON.stringify(value));
  });
});
