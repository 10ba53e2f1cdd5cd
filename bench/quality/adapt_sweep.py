"""Chooses encoder adaptation's settings (top layers trained, epochs) on SciFact's dev split.

An independent PyTorch + transformers check of the lever before it went into genret: all-MiniLM-L6-v2,
the top L layers fine-tuned on the judged training pairs (train minus the carved dev split, the same
FNV-1a rule as genret-data/src/dev.rs) with in-batch softmax over pooled cosines at scale 20 (batch 32,
AdamW 5e-5), then every dev query scored against every document (exact dense retrieval), nDCG@10 after
each epoch. The test split is never read. Output in docs/benchmarks.md ("Encoder adaptation").

    python -m venv /tmp/sweep && /tmp/sweep/bin/pip install torch transformers numpy
    /tmp/sweep/bin/python bench/quality/adapt_sweep.py [LMAX=2] [SHARED=../shared]

About 40 minutes on 2 cores (the lower layers are run once; each evaluation re-encodes the corpus
through the top layers).
"""
import sys
import gzip, json, torch, math, random, time, copy, itertools
from transformers import AutoTokenizer, AutoModel
torch.set_num_threads(2); torch.manual_seed(0); random.seed(0)
SHARED=sys.argv[2] if len(sys.argv)>2 else '../shared'
M=SHARED+'/models/all-MiniLM-L6-v2'; D=SHARED+'/data/scifact'
tok=AutoTokenizer.from_pretrained(M); model=AutoModel.from_pretrained(M, attn_implementation="eager"); model.eval()
docs=[json.loads(l) for l in gzip.open(D+'/corpus.jsonl.gz','rt')]
dids=[d['_id'] for d in docs]; dpos={d:i for i,d in enumerate(dids)}
texts=[(d['title']+' '+d['text']) if d.get('title') else d['text'] for d in docs]
Q={}
for l in open(D+'/queries.jsonl'):
    o=json.loads(l); Q[o['_id']]=o['text']
def qrels(split):
    r={}
    for i,l in enumerate(open(f'{D}/qrels/{split}.tsv')):
        if i==0: continue
        q,d,s=l.split('\t'); s=int(s)
        if s>0: r.setdefault(q,{})[d]=s
    return r
def fnv(s):
    h=0xcbf29ce484222325
    for b in s.encode(): h^=b; h=(h*0x100000001b3)&0xFFFFFFFFFFFFFFFF
    return h
tr=qrels('train')
dev={q:r for q,r in tr.items() if fnv(q)%5==0}
trn={q:r for q,r in tr.items() if fnv(q)%5!=0}
print('dev',len(dev),'train',len(trn),flush=True)
LMAX=int(sys.argv[1]) if len(sys.argv)>1 else 2
NL=len(model.encoder.layer); CUT=NL-LMAX
def lower(txts, maxlen):
    out=[]
    with torch.no_grad():
        for i in range(0,len(txts),64):
            b=tok(txts[i:i+64],padding=True,truncation=True,max_length=maxlen,return_tensors='pt')
            h=model.embeddings(input_ids=b['input_ids'],token_type_ids=b['token_type_ids'])
            ext=(1.0-b['attention_mask'][:,None,None,:].float())*-1e9
            for layer in model.encoder.layer[:CUT]:
                h=layer(h,attention_mask=ext); h=h[0] if isinstance(h,tuple) else h
            lens=b['attention_mask'].sum(1)
            for j in range(h.shape[0]): out.append(h[j,:lens[j]].clone())
    return out
def upper(states):
    L=max(s.shape[0] for s in states)
    h=torch.zeros(len(states),L,states[0].shape[1]); m=torch.zeros(len(states),L)
    for j,s in enumerate(states): h[j,:s.shape[0]]=s; m[j,:s.shape[0]]=1
    ext=(1.0-m[:,None,None,:])*-1e9
    for layer in model.encoder.layer[CUT:]:
        h=layer(h,attention_mask=ext); h=h[0] if isinstance(h,tuple) else h
    e=(h*m[:,:,None]).sum(1)/m.sum(1,keepdim=True)
    return torch.nn.functional.normalize(e,dim=-1)
t=time.time()
qids=sorted(Q); qposs={q:i for i,q in enumerate(qids)}
QL=lower([Q[q] for q in qids],32); print('queries lower',time.time()-t,flush=True)
DL=lower(texts,256); print('docs lower',time.time()-t,flush=True)
def enc_all(states,bs=128):
    with torch.no_grad():
        return torch.cat([upper(states[i:i+bs]) for i in range(0,len(states),bs)])
def ndcg10(qr, E, QE):
    tot=0
    for q,rel in qr.items():
        s=E@QE[qposs[q]]; top=torch.topk(s,10).indices.tolist()
        dcg=sum(rel.get(dids[p],0)/math.log2(i+2) for i,p in enumerate(top))
        ideal=sorted(rel.values(),reverse=True)[:10]
        idcg=sum(g/math.log2(i+2) for i,g in enumerate(ideal))
        tot+=dcg/idcg
    return tot/len(qr)
def evaluate(tag):
    t=time.time(); E=enc_all(DL); QE=enc_all(QL)
    print(f'{tag}: dev {ndcg10(dev,E,QE):.4f} ({time.time()-t:.0f}s)',flush=True)
evaluate('frozen')
pairs=[(q,d) for q,r in trn.items() for d in r if d in dpos]
init=copy.deepcopy(model.state_dict())
for L,lr,bs in [(1,5e-5,32),(2,5e-5,32),(2,2e-5,32)]:
    model.load_state_dict(init)
    params=[p for layer in model.encoder.layer[NL-L:] for p in layer.parameters()]
    opt=torch.optim.AdamW(params,lr=lr,weight_decay=0.01)
    for ep in range(3):
        model.train(); random.shuffle(pairs); t=time.time()
        for i in range(0,len(pairs),bs):
            b=pairs[i:i+bs]
            qe=upper([QL[qposs[q]] for q,_ in b]); de=upper([DL[dpos[d]] for _,d in b])
            loss=torch.nn.functional.cross_entropy(qe@de.T*20, torch.arange(len(b)))
            opt.zero_grad(); loss.backward(); opt.step()
        model.eval(); print(f'L{L} lr{lr} bs{bs} epoch {ep+1} train {time.time()-t:.0f}s loss {loss.item():.3f}',flush=True)
        evaluate(f'L{L} lr{lr} ep{ep+1}')
