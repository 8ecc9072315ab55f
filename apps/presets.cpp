#include "apps/presets.hpp"

#include <stdexcept>

#include "apps/preset_table.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
using preset_table::Preset;

// The table of presets, the images' then the text's (apps/presets_images.cpp, apps/presets_text.cpp).
const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = [] {
    std::vector<Preset> all = preset_table::image_presets();
    for (Preset& p : preset_table::text_presets()) all.push_back(std::move(p));
    return all;
  }();
  return table;
}
}  // namespace

std::vector<PresetInfo> list_presets() {
  std::vector<PresetInfo> out;
  for (const Preset& p : presets()) out.push_back({p.name, p.summary});
  return out;
}

json preset_config(const std::string& name) {
  for (const Preset& p : presets()) {
    if (p.name != name) continue;
    json c = p.base.empty() ? json::object() : preset_config(p.base);
    std::vector<std::string> deviations = p.base.empty() ? std::vector<std::string>{} : c["deviations"].get<std::vector<std::string>>();
    c.merge_patch(p.changes);
    deviations.insert(deviations.end(), p.deviations.begin(), p.deviations.end());
    c["preset"] = name;
    c["deviations"] = deviations;
    if (!c.contains("precision")) c["precision"] = "fp32";  // a preset may say "bf16" (tensor/precision.hpp)
    if (c.contains("train") && !c["train"].contains("keep_best")) c["train"]["keep_best"] = false;  // training_loop.hpp
    return c;
  }
  std::string known;
  for (const Preset& p : presets()) known += (known.empty() ? "" : ", ") + p.name;
  throw std::invalid_argument("--preset: unknown preset '" + name + "' (known: " + known + ")");
}

void apply_overrides(json& config, const std::vector<std::string>& assignments) {
  for (const std::string& a : assignments) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::invalid_argument("--set: expected key=value, got '" + a + "'");
    const std::string key = a.substr(0, eq), value = a.substr(eq + 1);
    json* node = &config;
    size_t start = 0;
    while (true) {
      const size_t dot = key.find('.', start);
      const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!node->is_object() || !node->contains(part)) {
        std::string known;
        if (node->is_object())
          for (auto& [k, v] : node->items()) known += (known.empty() ? "" : ", ") + k;
        throw std::invalid_argument("--set: unknown key '" + key + "'" + (known.empty() ? "" : " (known here: " + known + ")"));
      }
      node = &(*node)[part];
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (node->is_object()) throw std::invalid_argument("--set: '" + key + "' is a section, not a value");
    const std::string bad = "--set: '" + key + "' needs ";
    try {
      if (node->is_boolean()) {
        if (value != "true" && value != "false") throw std::invalid_argument(bad + "true or false, got '" + value + "'");
        *node = value == "true";
      } else if (node->is_number_integer()) {
        size_t used = 0;
        const long long v = std::stoll(value, &used);
        if (used != value.size()) throw std::invalid_argument("");
        *node = v;
      } else if (node->is_number()) {
        size_t used = 0;
        const double v = std::stod(value, &used);
        if (used != value.size()) throw std::invalid_argument("");
        *node = v;
      } else if (node->is_array()) {
        const json v = json::parse(value);
        if (!v.is_array()) throw std::invalid_argument("");
        *node = v;
      } else {
        *node = value;
      }
    } catch (const std::invalid_argument& e) {
      if (std::string(e.what()).rfind("--set", 0) == 0) throw;
      throw std::invalid_argument(bad + (node->is_number_integer() ? "an integer" : node->is_number() ? "a number" : "a JSON array") +
                                  ", got '" + value + "'");
    } catch (const std::exception&) {
      throw std::invalid_argument(bad + "a valid value, got '" + value + "'");
    }
  }
}

}  // namespace diffuse