# Writes the i-quant codebooks from ggml-common.h (the format's spec) as sluice sources, one
# file per family: src/tensor/iq2_grids.cpp (IQ2_XXS, IQ2_XS, IQ2_S) and
# src/tensor/iq1_iq3_grids.cpp (IQ3_XXS, IQ3_S, IQ1_S / IQ1_M); clang-format them afterwards.
# usage: gen_iq_grids.py PATH/TO/ggml-common.h src/tensor
import os
import re
import sys

src = open(sys.argv[1]).read()


def table(name):
    m = re.search(r'GGML_TABLE_BEGIN\((\w+), *' + name + r', *(\w+)\)(.*?)GGML_TABLE_END', src, re.S)
    vals = [v.strip() for v in m.group(3).replace('\n', ' ').split(',') if v.strip()]
    return m.group(1), vals


HEAD = '''// {what}: codebooks of the GGUF format (ggml-common.h is the spec; these are data, generated
// from it by scripts/gen_iq_grids.py). Each entry packs 8 (u64) or 4 (u32) bytes: the values
// of consecutive elements, lowest byte first. A dequantizer that indexes them reproduces
// llama.cpp's values exactly, which tests/tensor/fixture_test.cpp checks.
#include "tensor/iq_tables.h"

namespace sluice {{
'''

FILES = {
    'iq2_grids.cpp': ('IQ2_XXS, IQ2_XS and IQ2_S (unsigned magnitudes)',
                      [('iq2xxs_grid', 'uint64_t', 256), ('iq2xs_grid', 'uint64_t', 512),
                       ('iq2s_grid', 'uint64_t', 1024)]),
    'iq1_iq3_grids.cpp': ('IQ3_XXS, IQ3_S (unsigned magnitudes) and IQ1_S / IQ1_M (signed: -1, 0, 1)',
                          [('iq3xxs_grid', 'uint32_t', 256), ('iq3s_grid', 'uint32_t', 512),
                           ('iq1s_grid', 'uint64_t', 2048)]),
}

for fname, (what, tables) in FILES.items():
    out = [HEAD.format(what=what)]
    for name, ctype, size in tables:
        t, vals = table(name)
        assert t == ctype and len(vals) == size, (name, t, len(vals))
        width = 16 if ctype == 'uint64_t' else 8
        per = 4 if ctype == 'uint64_t' else 8
        out.append(f'const {ctype} {name}[{size}] = {{')
        for i in range(0, size, per):
            out.append('    ' + ', '.join('0x%0*x' % (width, int(v, 16)) for v in vals[i:i + per]) + ',')
        out.append('};\n')
    out.append('}  // namespace sluice')
    open(os.path.join(sys.argv[2], fname), 'w').write('\n'.join(out) + '\n')
