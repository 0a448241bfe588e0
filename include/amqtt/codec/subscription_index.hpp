#pragma once
// A subscription index: topic filters -> values, queried with a topic name.
//
// A trie over topic levels. `match(name, f)` visits every stored filter matching `name` in time
// proportional to the number of levels in `name` (times the few branches '+' and '#' add), not
// to the number of filters stored. Matching applies the same rules as topic_matches(), including
// "wildcards at the first level do not match names starting with '$'" [MQTT-4.7.2-1].
// Lookups do not allocate.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace amqtt {

template <class T>
class subscription_index {
 public:
  subscription_index() = default;
  subscription_index(subscription_index&&) noexcept = default;
  subscription_index& operator=(subscription_index&&) noexcept = default;

  // Stores `value` under `filter` (assumed valid: see validate_topic_filter), replacing any value
  // already there. Returns true when the filter is new.
  bool insert(std::string_view filter, T value) {
    node* n = &root_;
    bool hash = false;
    for_each_level(filter, [&](std::string_view level, bool last) {
      if (level == "#" && last) {
        hash = true;
        return;
      }
      n = level == "+" ? child_plus(*n) : child_exact(*n, level);
    });
    std::optional<T>& slot = hash ? n->hash_value : n->value;
    const bool added = !slot.has_value();
    slot = std::move(value);
    if (added) ++size_;
    return added;
  }

  // Removes `filter`; returns true when it was there.
  bool erase(std::string_view filter) { return erase_at(root_, filter, 0); }

  // The value stored under exactly `filter`, or nullptr.
  T* find(std::string_view filter) {
    node* n = &root_;
    bool hash = false;
    bool missing = false;
    for_each_level(filter, [&](std::string_view level, bool last) {
      if (missing) return;
      if (level == "#" && last) {
        hash = true;
        return;
      }
      if (level == "+") {
        n = n->plus.get();
      } else {
        auto it = n->children.find(level);
        n = it == n->children.end() ? nullptr : it->second.get();
      }
      missing = n == nullptr;
    });
    if (missing) return nullptr;
    std::optional<T>& slot = hash ? n->hash_value : n->value;
    return slot ? &*slot : nullptr;
  }

  // Calls f(const T&) for every stored filter matching topic name `name`.
  template <class F>
  void match(std::string_view name, F&& f) const {
    const bool dollar = !name.empty() && name.front() == '$';
    match_at(root_, name, 0, dollar, f);
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  void clear() {
    root_ = node{};
    size_ = 0;
  }

 private:
  struct node {
    std::string segment;  // this node's level text; children keys view it
    // Keys are views of the child's own `segment`, so lookups by string_view never allocate.
    std::unordered_map<std::string_view, std::unique_ptr<node>> children;
    std::unique_ptr<node> plus;
    std::optional<T> value;       // the filter ending at this node
    std::optional<T> hash_value;  // the filter "<this node>/#"
    bool empty() const noexcept { return children.empty() && !plus && !value && !hash_value; }
  };

  template <class F>
  static void for_each_level(std::string_view s, F&& f) {
    std::size_t start = 0;
    for (;;) {
      const std::size_t slash = s.find('/', start);
      if (slash == std::string_view::npos) {
        f(s.substr(start), true);
        return;
      }
      f(s.substr(start, slash - start), false);
      start = slash + 1;
    }
  }

  static node* child_exact(node& n, std::string_view level) {
    auto it = n.children.find(level);
    if (it != n.children.end()) return it->second.get();
    auto child = std::make_unique<node>();
    child->segment.assign(level.data(), level.size());
    node* raw = child.get();
    n.children.emplace(std::string_view(raw->segment), std::move(child));
    return raw;
  }

  static node* child_plus(node& n) {
    if (!n.plus) n.plus = std::make_unique<node>();
    return n.plus.get();
  }

  // Recursive erase that prunes nodes left empty. `pos` is where this node's levels start.
  bool erase_at(node& n, std::string_view filter, std::size_t pos) {
    const std::size_t slash = filter.find('/', pos);
    const bool last = slash == std::string_view::npos;
    const std::string_view level = last ? filter.substr(pos) : filter.substr(pos, slash - pos);
    if (last && level == "#") return take(n.hash_value);
    node* child = nullptr;
    if (level == "+") {
      child = n.plus.get();
    } else {
      auto it = n.children.find(level);
      if (it != n.children.end()) child = it->second.get();
    }
    if (child == nullptr) return false;
    const bool removed = last ? take(child->value) : erase_at(*child, filter, slash + 1);
    if (removed && child->empty()) {
      if (level == "+")
        n.plus.reset();
      else
        n.children.erase(level);
    }
    return removed;
  }

  bool take(std::optional<T>& slot) {
    if (!slot) return false;
    slot.reset();
    --size_;
    return true;
  }

  // `pos` is the start of the name's next level; pos == npos means the name is exhausted.
  template <class F>
  static void match_at(const node& n, std::string_view name, std::size_t pos, bool dollar_root,
                       F& f) {
    // "x/#" matches x itself and everything below it; at the root, not "$..." names.
    if (n.hash_value && !dollar_root) f(*n.hash_value);
    if (pos == std::string_view::npos) {
      if (n.value) f(*n.value);
      return;
    }
    const std::size_t slash = name.find('/', pos);
    const std::string_view level =
        slash == std::string_view::npos ? name.substr(pos) : name.substr(pos, slash - pos);
    const std::size_t next = slash == std::string_view::npos ? std::string_view::npos : slash + 1;
    if (!n.children.empty()) {
      auto it = n.children.find(level);
      if (it != n.children.end()) match_at(*it->second, name, next, false, f);
    }
    if (n.plus && !dollar_root) match_at(*n.plus, name, next, false, f);
  }

  node root_;
  std::size_t size_ = 0;
};

}  // namespace amqtt
