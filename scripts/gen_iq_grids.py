import re,sys
# usage: gen_iq_grids.py PATH/TO/ggml-common.h src/tensor/iq_tables.cpp
src=open(sys.argv[1]).read()
def table(name):
    m=re.search(r'GGML_TABLE_BEGIN\((\w+), *'+name+r', *(\w+)\)(.*?)GGML_TABLE_END', src, re.S)
    vals=[v.strip() for v in m.group(3).replace('\n',' ').split(',') if v.strip()]
    return m.group(1), vals
out=[]
out.append('''// The codebooks the i-quants index, as the GGUF format defines them (ggml-common.h is the
// spec; these are data, generated from it by scripts/gen_iq_grids.py). Each entry packs 8
// (u64) or 4 (u32) unsigned bytes: the magnitudes of consecutive elements, lowest byte first;
// iq1s_grid's bytes are signed (-1, 0, 1). A dequantizer that indexes them reproduces
// llama.cpp's values exactly, which tests/tensor/fixture_test.cpp checks.
#include "tensor/iq_tables.h"

namespace sluice {
''')
for name,ctype,size in [('iq2xxs_grid','uint64_t',256),('iq2xs_grid','uint64_t',512),('iq2s_grid','uint64_t',1024),('iq3xxs_grid','uint32_t',256),('iq3s_grid','uint32_t',512),('iq1s_grid','uint64_t',2048)]:
    t,vals=table(name)
    assert t==ctype and len(vals)==size,(name,t,len(vals))
    width=16 if ctype=='uint64_t' else 8
    out.append(f'\nconst {ctype} {name}[{size}] = {{')
    per=4 if ctype=='uint64_t' else 8
    for i in range(0,size,per):
        out.append('    '+', '.join('0x%0*x'%(width,int(v,16)) for v in vals[i:i+per])+',')
    out.append('};')
out.append('\n}  // namespace sluice')
open(sys.argv[2],"w").write('\n'.join(out)+'\n')
