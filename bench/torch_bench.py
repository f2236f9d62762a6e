# Copied unchanged (apart from these two lines) from the project's peer benchmark, /work/shared/bench/torch_bench.py;
# run by bench/descriptor with Debian's /usr/bin/python3 (python3-torch).
# Peer benchmark: Debian PyTorch 1.13 CPU. Random weights only (no downloads).
# usage: /usr/bin/python3 torch_bench.py [--backend mkldnn|im2col] [--models resnet18,resnet34,dlibnet] [--sizes 150,224] [--batches 1,8] [--threads 1,2] [--secs 2]
import argparse, time, os, statistics, json, sys
import torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(__file__) or '.')
from dlibnet import DlibNet

def count_macs(model, x):
    macs = [0]
    def hook(m, i, o):
        if isinstance(m, nn.Conv2d):
            macs[0] += o.numel() // o.shape[0] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            macs[0] += m.in_features * m.out_features
    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.inference_mode(): model(x[:1])
    for h in hs: h.remove()
    return macs[0]

def stat_busy():
    with open('/proc/stat') as f: v = [int(t) for t in f.readline().split()[1:9]]
    return (v[0]+v[1]+v[2]+v[5]+v[6]+v[7]) / os.sysconf('SC_CLK_TCK')

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--backend', default='mkldnn'); ap.add_argument('--models', default='resnet18,resnet34,dlibnet')
    ap.add_argument('--sizes', default='150,224'); ap.add_argument('--batches', default='1,8')
    ap.add_argument('--threads', default='1,2'); ap.add_argument('--secs', type=float, default=2.0)
    ap.add_argument('--reps', type=int, default=5)
    a = ap.parse_args()
    # mkldnn: default eager (oneDNN conv, NCHW in/out each layer); im2col: oneDNN disabled -> THNN im2col+BLAS(OpenBLAS);
    # jitopt: torch.jit.optimize_for_inference(script) (BN folded, oneDNN blocked layout kept between layers)
    torch.backends.mkldnn.enabled = (a.backend != 'im2col')
    torch.manual_seed(0)
    for mname in a.models.split(','):
        if mname == 'dlibnet': model = DlibNet()
        else:
            import torchvision  # only for the generic resnet peers
            model = getattr(torchvision.models, mname)(weights=None)
        model.eval()
        for s in [int(v) for v in a.sizes.split(',')]:
            if mname == 'dlibnet' and s != 150: continue
            macs = count_macs(model, torch.randn(1, 3, s, s))
            for b in [int(v) for v in a.batches.split(',')]:
                x = torch.randn(b, 3, s, s)
                for nt in [int(v) for v in a.threads.split(',')]:
                    torch.set_num_threads(nt)
                    run = model
                    if a.backend == 'jitopt':
                        with torch.no_grad():
                            run = torch.jit.optimize_for_inference(torch.jit.script(model))
                    with torch.inference_mode():
                        for _ in range(3): run(x)
                        t0 = time.perf_counter(); run(x); t1 = time.perf_counter() - t0
                        it = max(1, int(a.secs / a.reps / t1))
                        per, percpu, oth = [], [], []
                        for r in range(a.reps):
                            b0, c0, w0 = stat_busy(), time.process_time(), time.perf_counter()
                            for _ in range(it): run(x)
                            w = time.perf_counter() - w0; c = time.process_time() - c0; b1 = stat_busy()
                            per.append(w / it / b); percpu.append(c / nt / it / b)
                            oth.append(max(0.0, ((b1 - b0) - c) / (w * os.cpu_count()) * 100))
                    med = statistics.median(per); best = min(per); medc = statistics.median(percpu)
                    rec = dict(model=mname, backend=a.backend, size=s, batch=b, threads=nt, gmac_per_img=macs/1e9,
                               ms_per_img_med=med*1e3, ms_per_img_best=best*1e3, img_per_s=1/med,
                               gflops_med=2*macs/med/1e9, gflops_best=2*macs/best/1e9,
                               ms_per_img_cputime=medc*1e3, gflops_cputime=2*macs/medc/1e9,
                               others_pct_med=statistics.median(oth), iters=it,
                               OPENBLAS_NUM_THREADS=os.environ.get('OPENBLAS_NUM_THREADS'), OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS'))
                    print(json.dumps(rec), flush=True)

if __name__ == '__main__':
    main()
