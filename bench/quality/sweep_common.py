"""What the encoder-adaptation sweeps share (adapt_sweep.py, adapt_negatives_sweep.py).

SciFact and all-MiniLM-L6-v2 from SHARED, the dev split carved from the training queries by the
same FNV-1a rule as genret-data/src/dev.rs (the test split is never read), the lower encoder
layers run once and cached per text, the top layers run on those cached states, and exact dense
nDCG@10 of the dev queries.
"""
import gzip, json, math
import torch
from transformers import AutoTokenizer, AutoModel


def fnv(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h ^= b; h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


class Sweep:
    """SciFact's texts and judged training queries split into train and dev, and the model cut
    below its top `top_layers` encoder layers."""

    def __init__(self, shared, top_layers):
        m = shared + '/models/all-MiniLM-L6-v2'; d = shared + '/data/scifact'
        self.tok = AutoTokenizer.from_pretrained(m)
        self.model = AutoModel.from_pretrained(m, attn_implementation="eager"); self.model.eval()
        docs = [json.loads(l) for l in gzip.open(d + '/corpus.jsonl.gz', 'rt')]
        self.dids = [x['_id'] for x in docs]; self.dpos = {x: i for i, x in enumerate(self.dids)}
        self.texts = [(x['title'] + ' ' + x['text']) if x.get('title') else x['text'] for x in docs]
        self.queries = {}
        for l in open(d + '/queries.jsonl'):
            o = json.loads(l); self.queries[o['_id']] = o['text']
        tr = {}
        for i, l in enumerate(open(f'{d}/qrels/train.tsv')):
            if i == 0:
                continue
            q, doc, s = l.split('\t'); s = int(s)
            if s > 0:
                tr.setdefault(q, {})[doc] = s
        self.dev = {q: r for q, r in tr.items() if fnv(q) % 5 == 0}
        self.trn = {q: r for q, r in tr.items() if fnv(q) % 5 != 0}
        print('dev', len(self.dev), 'train', len(self.trn), flush=True)
        self.num_layers = len(self.model.encoder.layer)
        self.cut = self.num_layers - top_layers
        self.qids = sorted(self.queries); self.qposs = {q: i for i, q in enumerate(self.qids)}

    def lower(self, txts, maxlen):
        """Each text's token states below the cut (no grad), unpadded."""
        out = []
        with torch.no_grad():
            for i in range(0, len(txts), 64):
                b = self.tok(txts[i:i + 64], padding=True, truncation=True, max_length=maxlen, return_tensors='pt')
                h = self.model.embeddings(input_ids=b['input_ids'], token_type_ids=b['token_type_ids'])
                ext = (1.0 - b['attention_mask'][:, None, None, :].float()) * -1e9
                for layer in self.model.encoder.layer[:self.cut]:
                    h = layer(h, attention_mask=ext); h = h[0] if isinstance(h, tuple) else h
                lens = b['attention_mask'].sum(1)
                for j in range(h.shape[0]):
                    out.append(h[j, :lens[j]].clone())
        return out

    def upper(self, states):
        """The top layers on cached lower states: mean-pooled, L2-normalised embeddings."""
        L = max(s.shape[0] for s in states)
        h = torch.zeros(len(states), L, states[0].shape[1]); m = torch.zeros(len(states), L)
        for j, s in enumerate(states):
            h[j, :s.shape[0]] = s; m[j, :s.shape[0]] = 1
        ext = (1.0 - m[:, None, None, :]) * -1e9
        for layer in self.model.encoder.layer[self.cut:]:
            h = layer(h, attention_mask=ext); h = h[0] if isinstance(h, tuple) else h
        e = (h * m[:, :, None]).sum(1) / m.sum(1, keepdim=True)
        return torch.nn.functional.normalize(e, dim=-1)

    def enc_all(self, states, bs=128):
        with torch.no_grad():
            return torch.cat([self.upper(states[i:i + bs]) for i in range(0, len(states), bs)])

    def ndcg10(self, qr, E, QE):
        """Mean nDCG@10 of the queries `qr` (id -> {doc id: grade}), every document scored."""
        tot = 0
        for q, rel in qr.items():
            top = torch.topk(E @ QE[self.qposs[q]], 10).indices.tolist()
            dcg = sum(rel.get(self.dids[p], 0) / math.log2(i + 2) for i, p in enumerate(top))
            idcg = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(rel.values(), reverse=True)[:10]))
            tot += dcg / idcg
        return tot / len(qr)
