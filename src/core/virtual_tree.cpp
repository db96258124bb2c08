#include "weightfs/virtual_tree.hpp"

#include <algorithm>
#include <optional>
#include <sstream>

#include "transforms/part_names.hpp"

namespace wfs {

VirtualTree::VirtualTree() {
    nodes_.resize(2);
    nodes_[1].ino = kRoot;
    nodes_[1].parent = kRoot;
    nodes_[1].kind = NodeKind::Directory;
}

uint64_t VirtualTree::add(uint64_t dir, const std::string& name, NodeKind kind, VirtualFilePtr file,
                          const std::string& view) {
    if (nodes_[dir].children.count(name)) return 0;
    Node n;
    n.ino = nodes_.size();
    n.parent = dir;
    n.name = name;
    n.kind = kind;
    n.file = std::move(file);
    n.view = view;
    nodes_[dir].children[name] = n.ino;
    nodes_.push_back(std::move(n));
    return nodes_.size() - 1;
}

uint64_t VirtualTree::ensure_dir(const std::string& path, const std::string& view) {
    uint64_t cur = kRoot;
    std::stringstream ss(path);
    std::string part;
    while (std::getline(ss, part, '/')) {
        if (part.empty()) continue;
        auto it = nodes_[cur].children.find(part);
        if (it != nodes_[cur].children.end()) {
            if (nodes_[it->second].kind != NodeKind::Directory) return 0;
            cur = it->second;
        } else {
            cur = add(cur, part, NodeKind::Directory, nullptr, view);
        }
    }
    return cur;
}

uint64_t VirtualTree::add_file(const std::string& path, VirtualFilePtr file, const std::string& view) {
    auto slash = path.rfind('/');
    uint64_t dir = slash == std::string::npos ? kRoot : ensure_dir(path.substr(0, slash), view);
    if (dir == 0) return 0;
    return add(dir, slash == std::string::npos ? path : path.substr(slash + 1), NodeKind::File, std::move(file), view);
}

const Node* VirtualTree::lookup(uint64_t dir, const std::string& name) const {
    const Node* d = get(dir);
    if (!d || d->kind != NodeKind::Directory) return nullptr;
    auto it = d->children.find(name);
    return it == d->children.end() ? nullptr : &nodes_[it->second];
}

std::string VirtualTree::path_of(uint64_t ino) const {
    std::string p;
    while (ino > kRoot && ino < nodes_.size()) {  // [0] is unused: its parent is itself
        p = "/" + nodes_[ino].name + p;
        ino = nodes_[ino].parent;
    }
    return p.empty() ? "/" : p;
}

void VirtualTree::graft(const VirtualTree& other) {
    for (size_t i = 2; i < other.nodes_.size(); ++i) {
        const Node& n = other.nodes_[i];
        const std::string path = other.path_of(i).substr(1);
        if (n.kind == NodeKind::Directory) ensure_dir(path, n.view);
        else if (n.kind == NodeKind::File) {
            if (uint64_t ino = add_file(path, n.file, n.view)) nodes_[ino].next = n.next;
        }
        else add(ensure_dir(other.path_of(n.parent).substr(1), n.view), n.name, n.kind, nullptr, n.view);
    }
}

uint64_t VirtualTree::find(const std::string& path) const {
    uint64_t ino = kRoot;
    for (size_t from = 0; ino != 0 && from <= path.size();) {
        const size_t slash = std::min(path.find('/', from), path.size());
        const Node* n = lookup(ino, path.substr(from, slash - from));
        ino = n ? n->ino : 0;
        from = slash + 1;
    }
    return ino;
}

bool VirtualTree::set_next(const std::string& path, const std::string& next_name) {
    const uint64_t ino = find(path);
    Node* n = ino ? &nodes_[ino] : nullptr;
    if (!n || n->kind != NodeKind::File) return false;
    const Node* next = lookup(n->parent, next_name);
    if (!next || next->kind != NodeKind::File) return false;
    n->next = next_name;
    return true;
}

uint64_t VirtualTree::next_file(uint64_t ino) const {
    const Node* n = get(ino);
    if (!n || n->kind != NodeKind::File) return 0;
    std::optional<std::string> name;
    if (!n->next.empty()) {
        name = n->next;
    } else if (auto set = parse_shard_name(n->name); set && set->index < set->count) {
        name = shard_name(*set, set->index + 1);
    }
    const Node* next = name ? lookup(n->parent, *name) : nullptr;
    return next && next->kind == NodeKind::File ? next->ino : 0;
}

std::vector<std::pair<std::string, VirtualFilePtr>> VirtualTree::files() const {
    std::vector<std::pair<std::string, VirtualFilePtr>> out;
    for (size_t i = 2; i < nodes_.size() && !is_alias(i); ++i)
        if (nodes_[i].kind == NodeKind::File) out.push_back({path_of(i).substr(1), nodes_[i].file});
    return out;
}

void VirtualTree::add_aliases(const std::string& under, const std::function<bool(const VirtualFile&)>& which) {
    const size_t end = nodes_.size();
    alias_dir_ = under;
    ensure_dir(under, "");
    alias_start_ = nodes_.size();
    for (size_t i = 2; i < end; ++i) {
        if (nodes_[i].kind != NodeKind::File || !which(*nodes_[i].file)) continue;
        const Node n = nodes_[i];  // add() may move nodes_
        if (uint64_t ino = add_file(under + path_of(i), n.file, n.view)) nodes_[ino].next = n.next;
    }
}

std::string VirtualTree::alias_target(uint64_t ino) const {
    const std::string path = path_of(ino);  // "/view/dir/name"
    std::string up;
    for (size_t i = 1; i < path.size(); ++i)
        if (path[i] == '/') up += "../";
    return up + alias_dir_ + path;
}

}  // namespace wfs
