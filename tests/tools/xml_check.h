// A minimal XML reader for the plot tests: checks well-formedness (one root, tags nested and
// closed in order, attributes quoted and unique, only the five named entities and numeric
// references, no '<' in attribute values) and returns every element's name and attributes
// in document order. Enough for SVG written by tools/svg.cpp, with no library.
#pragma once

#include <cctype>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::test {

struct xml_element {
    std::string                        name;
    std::map<std::string, std::string> attrs;  // values with entities decoded
};

inline std::string xml_decode(const std::string & s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '&') {
            out += s[i];
            continue;
        }
        const size_t end = s.find(';', i);
        if (end == std::string::npos) {
            throw std::runtime_error("unterminated entity");
        }
        const std::string ent = s.substr(i + 1, end - i - 1);
        if (ent == "amp") {
            out += '&';
        } else if (ent == "lt") {
            out += '<';
        } else if (ent == "gt") {
            out += '>';
        } else if (ent == "quot") {
            out += '"';
        } else if (ent == "apos") {
            out += '\'';
        } else if (ent.size() > 1 && ent[0] == '#') {
            out += '?';  // numeric reference: accepted, not decoded
        } else {
            throw std::runtime_error("unknown entity &" + ent + ";");
        }
        i = end;
    }
    return out;
}

// Throws std::runtime_error describing the first problem.
inline std::vector<xml_element> parse_xml(const std::string & doc) {
    std::vector<xml_element> out;
    std::vector<std::string> open;
    size_t                   i = 0, roots = 0;
    const auto               is_name = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.';
    };
    while (i < doc.size()) {
        if (doc[i] != '<') {
            const size_t      next = doc.find('<', i);
            const std::string text = doc.substr(i, next == std::string::npos ? std::string::npos : next - i);
            if (open.empty() && text.find_first_not_of(" \t\r\n") != std::string::npos) {
                throw std::runtime_error("text outside the root element");
            }
            if (text.find('>') != std::string::npos) {
                throw std::runtime_error("'>' in text");
            }
            xml_decode(text);
            i = next == std::string::npos ? doc.size() : next;
            continue;
        }
        if (doc.compare(i, 5, "<?xml") == 0) {
            if (i != 0) {
                throw std::runtime_error("XML declaration not at the start");
            }
            const size_t end = doc.find("?>", i);
            if (end == std::string::npos) {
                throw std::runtime_error("unterminated declaration");
            }
            i = end + 2;
            continue;
        }
        if (doc.compare(i, 4, "<!--") == 0) {
            const size_t end = doc.find("-->", i);
            if (end == std::string::npos) {
                throw std::runtime_error("unterminated comment");
            }
            i = end + 3;
            continue;
        }
        if (doc.compare(i, 2, "</") == 0) {
            size_t j = i + 2;
            while (j < doc.size() && is_name(doc[j])) {
                ++j;
            }
            const std::string name = doc.substr(i + 2, j - i - 2);
            while (j < doc.size() && std::isspace(static_cast<unsigned char>(doc[j]))) {
                ++j;
            }
            if (j >= doc.size() || doc[j] != '>') {
                throw std::runtime_error("bad end tag </" + name);
            }
            if (open.empty() || open.back() != name) {
                throw std::runtime_error("end tag </" + name + "> does not match <" +
                                         (open.empty() ? std::string("nothing") : open.back()) + ">");
            }
            open.pop_back();
            i = j + 1;
            continue;
        }
        size_t j = i + 1;
        while (j < doc.size() && is_name(doc[j])) {
            ++j;
        }
        xml_element e;
        e.name = doc.substr(i + 1, j - i - 1);
        if (e.name.empty()) {
            throw std::runtime_error("empty tag name at byte " + std::to_string(i));
        }
        if (open.empty() && ++roots > 1) {
            throw std::runtime_error("more than one root element");
        }
        bool closed = false;
        for (;;) {
            while (j < doc.size() && std::isspace(static_cast<unsigned char>(doc[j]))) {
                ++j;
            }
            if (j >= doc.size()) {
                throw std::runtime_error("unterminated tag <" + e.name);
            }
            if (doc[j] == '>') {
                ++j;
                break;
            }
            if (doc.compare(j, 2, "/>") == 0) {
                j += 2;
                closed = true;
                break;
            }
            size_t k = j;
            while (k < doc.size() && is_name(doc[k])) {
                ++k;
            }
            const std::string key = doc.substr(j, k - j);
            if (key.empty() || k + 1 >= doc.size() || doc[k] != '=' || (doc[k + 1] != '"' && doc[k + 1] != '\'')) {
                throw std::runtime_error("bad attribute in <" + e.name + "> at byte " + std::to_string(j));
            }
            const size_t end = doc.find(doc[k + 1], k + 2);
            if (end == std::string::npos) {
                throw std::runtime_error("unterminated attribute " + key);
            }
            const std::string raw = doc.substr(k + 2, end - k - 2);
            if (raw.find('<') != std::string::npos) {
                throw std::runtime_error("'<' in attribute " + key);
            }
            if (!e.attrs.emplace(key, xml_decode(raw)).second) {
                throw std::runtime_error("attribute " + key + " twice in <" + e.name + ">");
            }
            j = end + 1;
        }
        if (!closed) {
            open.push_back(e.name);
        }
        out.push_back(std::move(e));
        i = j;
    }
    if (!open.empty()) {
        throw std::runtime_error("<" + open.back() + "> is never closed");
    }
    if (roots != 1) {
        throw std::runtime_error("no root element");
    }
    return out;
}

}  // namespace sluice::test
