#include "server/config/config.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <toml++/toml.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "server/config/settings.h"

namespace backtest::config {
namespace {

// "jobs.workers from env BACKTEST_WORKERS", for error messages and Describe.
std::string OriginText(const Origin& origin) {
  switch (origin.layer) {
    case Origin::Layer::kDefault:
      return "default";
    case Origin::Layer::kFile:
      return absl::StrCat("file ", origin.name);
    case Origin::Layer::kEnvironment:
      return absl::StrCat("env ", origin.name);
    case Origin::Layer::kFlag:
      return absl::StrCat("flag ", origin.name);
  }
  return "";
}

absl::Status BadValue(const Setting& setting, const Origin& origin, const std::string& problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(setting.key, " from ", OriginText(origin), ": ", problem));
}

// The text of a value in TOML: a basic string with its escapes, a number, a boolean, an array.
std::string Quote(const std::string& text) {
  std::ostringstream out;
  out << toml::value<std::string>(text);
  return out.str();
}

std::string TomlText(const Target& target) {
  struct Visitor {
    std::string operator()(std::string* v) const { return Quote(*v); }
    std::string operator()(int* v) const { return std::to_string(*v); }
    std::string operator()(int64_t* v) const { return std::to_string(*v); }
    std::string operator()(bool* v) const { return *v ? "true" : "false"; }
    std::string operator()(std::vector<std::string>* v) const {
      std::vector<std::string> quoted;
      for (const std::string& item : *v) quoted.push_back(Quote(item));
      return absl::StrCat("[", absl::StrJoin(quoted, ", "), "]");
    }
  };
  return std::visit(Visitor{}, target);
}

// A value as written in the environment or on the command line, or as a TOML scalar: the
// settings' types from text. Lists from the environment are comma-separated.
absl::Status SetFromText(const Setting& setting, const Origin& origin,
                         const std::vector<std::string>& texts, Target target) {
  const std::string& text = texts.back();
  if (auto* list = std::get_if<std::vector<std::string>*>(&target)) {
    (*list)->clear();
    for (const std::string& item : texts) {
      for (absl::string_view part : absl::StrSplit(item, ',', absl::SkipWhitespace())) {
        (*list)->emplace_back(absl::StripAsciiWhitespace(part));
      }
    }
    return absl::OkStatus();
  }
  if (auto* flag = std::get_if<bool*>(&target)) {
    if (!absl::SimpleAtob(text, *flag)) {
      return BadValue(setting, origin, absl::StrCat("expected true or false, got \"", text, "\""));
    }
    return absl::OkStatus();
  }
  if (auto* str = std::get_if<std::string*>(&target)) {
    if (!setting.choices.empty() &&
        std::find(setting.choices.begin(), setting.choices.end(), text) ==
            setting.choices.end()) {
      return BadValue(setting, origin,
                      absl::StrCat("expected one of ", absl::StrJoin(setting.choices, ", "),
                                   "; got \"", text, "\""));
    }
    **str = text;
    return absl::OkStatus();
  }
  int64_t number = 0;
  if (!absl::SimpleAtoi(text, &number) || number < setting.min || number > setting.max) {
    return BadValue(setting, origin,
                    absl::StrCat("expected an integer from ", setting.min, " to ", setting.max,
                                 "; got \"", text, "\""));
  }
  if (auto* i = std::get_if<int*>(&target)) {
    **i = static_cast<int>(number);
  } else {
    *std::get<int64_t*>(target) = number;
  }
  return absl::OkStatus();
}

// One TOML value: its type must be the setting's; then the same checks as text.
absl::Status SetFromToml(const Setting& setting, const Origin& origin, const toml::node& node,
                         Target target) {
  auto wrong_type = [&](const std::string& expected) {
    return BadValue(setting, origin, absl::StrCat("expected ", expected));
  };
  if (std::holds_alternative<std::vector<std::string>*>(target)) {
    const toml::array* array = node.as_array();
    if (array == nullptr) return wrong_type("an array of strings");
    std::vector<std::string> items;
    for (const toml::node& item : *array) {
      if (!item.is_string()) return wrong_type("an array of strings");
      items.push_back(*item.value<std::string>());
    }
    *std::get<std::vector<std::string>*>(target) = std::move(items);
    return absl::OkStatus();
  }
  if (std::holds_alternative<bool*>(target)) {
    if (!node.is_boolean()) return wrong_type("true or false");
    *std::get<bool*>(target) = *node.value<bool>();
    return absl::OkStatus();
  }
  if (std::holds_alternative<std::string*>(target)) {
    if (!node.is_string()) return wrong_type("a string");
    return SetFromText(setting, origin, {*node.value<std::string>()}, target);
  }
  if (!node.is_integer()) {
    return wrong_type(absl::StrCat("an integer from ", setting.min, " to ", setting.max));
  }
  return SetFromText(setting, origin, {std::to_string(*node.value<int64_t>())}, target);
}

// Every leaf of the document (sections one level deep), or the first unknown key.
absl::Status ApplyTable(const toml::table& table, const std::string& prefix,
                        const std::string& path, DaemonConfig& config) {
  for (const auto& [name, node] : table) {
    std::string key = prefix.empty() ? std::string(name.str())
                                     : absl::StrCat(prefix, ".", std::string(name.str()));
    const Setting* setting = FindSetting(key);
    if (setting == nullptr && node.is_table() && prefix.empty()) {
      RETURN_IF_ERROR(ApplyTable(*node.as_table(), key, path, config));
      continue;
    }
    if (setting == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("config file ", path, " line ",
                                                     node.source().begin.line, ": unknown key ",
                                                     key));
    }
    Origin origin{Origin::Layer::kFile, path};
    RETURN_IF_ERROR(SetFromToml(*setting, origin, node, setting->target(config)));
    config.origins[key] = origin;
  }
  return absl::OkStatus();
}

absl::Status ApplyFile(const std::string& path, DaemonConfig& config) {
  toml::table table;
  try {  // Debian's toml++ reports errors by exception
    table = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    std::string description(error.description());
    if (error.source().begin.line == 0) {  // the file could not be read
      return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", description));
    }
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, " line ",
                                                   error.source().begin.line, ": ",
                                                   description));
  }
  config.file = path;
  return ApplyTable(table, "", path, config);
}

absl::Status ApplyEnvironment(const Inputs& inputs, DaemonConfig& config) {
  for (const Setting& setting : Settings()) {
    for (const std::string& name : setting.environment) {
      std::optional<std::string> value = inputs.environment(name);
      if (!value.has_value()) continue;
      Origin origin{Origin::Layer::kEnvironment, name};
      RETURN_IF_ERROR(SetFromText(setting, origin, {*value}, setting.target(config)));
      config.origins[setting.key] = origin;
      break;
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyFlags(const Inputs& inputs, DaemonConfig& config) {
  for (const auto& [key, values] : inputs.flags) {
    const Setting* setting = FindSetting(key);
    if (setting == nullptr || values.empty()) continue;
    Origin origin{Origin::Layer::kFlag, setting->flag};
    RETURN_IF_ERROR(SetFromText(*setting, origin, values, setting->target(config)));
    config.origins[key] = origin;
  }
  return absl::OkStatus();
}

// Settings that only mean something together.
absl::Status CheckTogether(const DaemonConfig& config) {
  const ServerOptions& s = config.server;
  if (s.tls_cert.empty() != s.tls_key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls.cert and tls.key go together: ", s.tls_cert.empty() ? "tls.key" : "tls.cert",
        " is set, the other is not"));
  }
  if (!s.tls_client_ca.empty() && s.tls_cert.empty()) {
    return absl::InvalidArgumentError("tls.client_ca needs tls.cert and tls.key");
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<std::string> ProcessEnvironment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

absl::StatusOr<DaemonConfig> Resolve(const Inputs& inputs) {
  DaemonConfig config;
  std::string file = inputs.config_file;
  if (file.empty() && inputs.environment) file = inputs.environment("BACKTEST_CONFIG").value_or("");
  if (!file.empty()) RETURN_IF_ERROR(ApplyFile(file, config));
  if (inputs.environment) RETURN_IF_ERROR(ApplyEnvironment(inputs, config));
  RETURN_IF_ERROR(ApplyFlags(inputs, config));
  RETURN_IF_ERROR(CheckTogether(config));
  config.server.retention.policy.max_db_bytes = config.db_size_budget_mb << 20;
  config.server.retention.interval = std::chrono::seconds(config.retention_interval_s);
  return config;
}

std::string Describe(const DaemonConfig& config) {
  DaemonConfig copy = config;  // targets point into a mutable config
  // Top-level keys first, then each section once, in the order the table first names it.
  std::vector<std::string> sections = {""};
  std::map<std::string, std::vector<const Setting*>> by_section;
  for (const Setting& setting : Settings()) {
    size_t dot = setting.key.find('.');
    std::string section = dot == std::string::npos ? "" : setting.key.substr(0, dot);
    if (!by_section.count(section) && !section.empty()) sections.push_back(section);
    by_section[section].push_back(&setting);
  }
  std::ostringstream out;
  out << "# backtestd's effective configuration; after each value, where it came from.\n";
  if (!config.file.empty()) out << "# config file: " << config.file << "\n";
  for (const std::string& section : sections) {
    if (!section.empty()) out << "\n[" << section << "]\n";
    for (const Setting* setting : by_section[section]) {
      auto origin = config.origins.find(setting->key);
      out << setting->key.substr(section.empty() ? 0 : section.size() + 1) << " = "
          << TomlText(setting->target(copy)) << "  # "
          << (origin == config.origins.end() ? "default" : OriginText(origin->second)) << "\n";
    }
  }
  return out.str();
}

void CommandLine::AddTo(CLI::App& app) {
  app.add_option("--config", config_file_,
                 "TOML configuration file (default: BACKTEST_CONFIG; docs/operations.md)");
  DaemonConfig defaults;
  for (const Setting& setting : Settings()) {
    std::string help = absl::StrCat(setting.help, " [", TomlText(setting.target(defaults)),
                                    "; env ", absl::StrJoin(setting.environment, ", "), "]");
    CLI::Option* option = std::holds_alternative<bool*>(setting.target(defaults))
                              ? app.add_flag(setting.flag)
                              : app.add_option(setting.flag)->type_size(1)->expected(1);
    option->description(help);
    if (std::holds_alternative<std::vector<std::string>*>(setting.target(defaults))) {
      option->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    }
    options_.emplace_back(setting.key, option);
  }
}

Inputs CommandLine::inputs() const {
  Inputs inputs;
  inputs.config_file = config_file_;
  for (const auto& [key, option] : options_) {
    if (option->count() == 0) continue;
    std::vector<std::string>& values = inputs.flags[key];
    for (const std::string& value : option->results()) values.push_back(value);
  }
  inputs.environment = ProcessEnvironment;
  return inputs;
}

}  // namespace backtest::config
