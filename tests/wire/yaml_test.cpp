// YAML read as JSON: the core schema's scalars, structure, errors, and the limits that stop
// hostile documents.
#include "wire/yaml.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

using cn::wire::yaml_to_json;
namespace json = boost::json;

TEST(Yaml, ScalarsFollowTheCoreSchema) {
  auto v = yaml_to_json("a: 1\nb: -2.5\nc: true\nd: ~\ne: hello\nf: '1'\ng: \"true\"\nh: 0x1f\ni: !!str 3\nj: .inf\nk:\n");
  ASSERT_TRUE(v.ok()) << v.status().message();
  auto& o = v->as_object();
  EXPECT_EQ(o.at("a"), json::value(1));
  EXPECT_EQ(o.at("b"), json::value(-2.5));
  EXPECT_EQ(o.at("c"), json::value(true));
  EXPECT_TRUE(o.at("d").is_null());
  EXPECT_EQ(o.at("e"), json::value("hello"));
  EXPECT_EQ(o.at("f"), json::value("1"));
  EXPECT_EQ(o.at("g"), json::value("true"));
  EXPECT_EQ(o.at("h"), json::value(31));
  EXPECT_EQ(o.at("i"), json::value("3"));
  EXPECT_EQ(o.at("j"), json::value(".inf"));
  EXPECT_TRUE(o.at("k").is_null());
}

TEST(Yaml, StructureMatchesTheSameDocumentInJson) {
  auto v = yaml_to_json(R"(
openapi: 3.0.3
paths:
  /orders/{id}:
    get:
      operationId: getOrder
      parameters:
        - {name: id, in: path, required: true}
      tags: [a, b]
)");
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(*v, json::parse(R"({"openapi":"3.0.3","paths":{"/orders/{id}":{"get":{"operationId":"getOrder",
    "parameters":[{"name":"id","in":"path","required":true}],"tags":["a","b"]}}}})"));
}

TEST(Yaml, ErrorsNameTheLine) {
  auto v = yaml_to_json("a: 1\nb: [1, 2\n");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("line"), std::string::npos) << v.status().message();
  EXPECT_FALSE(yaml_to_json("? [a]\n: 1\n").ok());  // a key that is not a scalar
}

TEST(Yaml, AliasBombsAndDeepNestingStop) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'k'; ++c, ++prev)
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n";
  auto v = yaml_to_json(bomb);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("too large"), std::string::npos) << v.status().message();
  EXPECT_FALSE(yaml_to_json(std::string(100, '[') + std::string(100, ']')).ok());
}
