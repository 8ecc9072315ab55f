#!/usr/bin/env python3
"""PyTorch twins of `diffuse benchmark`'s workloads, timed the same way (run by hand with Debian's
python3-torch; the project never needs it). The U-Net is ddpm-cifar10-small's (8,952,067 parameters), the
transformer d3pm-text8-small's (4,950,556); the script checks both counts against the engine's.

    python3 bench/torch_benchmark.py --workload unet-train --threads 2 [--batch N --steps N --warmup N] [--fixed]

PyTorch is run as its best users would run it on this machine: the script tries each knob and keeps the
fastest configuration of the workload, and prints it beside the time. The knobs:
  - OpenBLAS's own thread pool (Debian's torch calls libopenblas, whose pthreads build keeps a pool of all
    cores beside torch's OpenMP pool: torch.set_num_threads does not reach it): 1 thread, or --threads;
  - oneDNN (torch.backends.mkldnn) on or off: with it on, torch sends its convolutions to oneDNN;
  - channels_last memory format for the U-Net;
  - torch.inference_mode for sampling (no_grad otherwise).
OpenBLAS's workers sleep soon after each call (OPENBLAS_THREAD_TIMEOUT=4, as the engine sets it; see below).
Each configuration is screened by one warm-up step and the best of two timed steps; the fastest is then timed
with --warmup and --steps, and that median is the figure. --fixed times only
the first configuration (OpenBLAS at 1 thread, oneDNN on, contiguous, inference mode), for a quick check.
--precision bf16 runs the forward pass and the loss under torch.autocast("cpu", dtype=torch.bfloat16), as
PyTorch's users train and sample in bf16 on CPUs (the backward follows autocast's casts).

Prints one JSON object with the same keys as `diffuse benchmark --json`, plus "config" (the knobs kept),
"tried" (each configuration's median ms), the CPU model and OpenBLAS's kernel set (openblas_get_corename).
Peak RSS is the process's (resource.getrusage), as in the engine: with several configurations tried, the
largest of them.
"""
import argparse
import contextlib
import ctypes
import itertools
import json
import math
import os
import resource
import sys
import time

# The engine's OpenBLAS setting (tensor/blas_kernels.hpp), so that both sides run in one environment: the
# workers of OpenBLAS's pthreads pool sleep 2^4 cycles after a call instead of yielding the core for 2^28.
# OpenBLAS reads it when it loads, hence the re-run before torch is imported. A user's own value is kept.
if "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = "4"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t, dim):
    half = dim // 2
    freq = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / (half - 1))
    arg = t.float()[:, None] * freq[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


# Norms in float32, as the engine keeps them and as autocast users write them: torch 1.13's CPU autocast leaves
# group_norm out of its float32 list, so a bf16 activation would meet float32 weights. A no-op in float32.
class GroupNorm32(nn.GroupNorm):
    def forward(self, x):
        return super().forward(x.float())


class LayerNorm32(nn.LayerNorm):
    def forward(self, x):
        return super().forward(x.float())


# ---- the DDPM U-Net (nn/unet.hpp, nn/unet_blocks.hpp) ------------------------------------------
class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb, groups, dropout):
        super().__init__()
        self.norm1 = GroupNorm32(groups, cin, eps=1e-6)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb_proj = nn.Linear(temb, cout)
        self.norm2 = GroupNorm32(groups, cout, eps=1e-6)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.nin_shortcut(x) if self.nin_shortcut is not None else x) + h


class SpatialSelfAttention(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.norm = GroupNorm32(groups, c, eps=1e-6)
        self.q, self.k, self.v, self.proj_out = (nn.Linear(c, c) for _ in range(4))

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.norm(x).view(B, C, H * W).transpose(1, 2)
        p = torch.softmax(self.q(h) @ self.k(h).transpose(1, 2) / math.sqrt(C), dim=-1)
        return x + self.proj_out(p @ self.v(h)).transpose(1, 2).reshape(B, C, H, W)


class UNet(nn.Module):
    def __init__(self, ch=64, mult=(1, 2, 2, 2), blocks=2, attn=(16,), dropout=0.1, res=32, groups=32):
        super().__init__()
        self.ch, temb = ch, 4 * ch
        self.temb = nn.ModuleList([nn.Linear(ch, temb), nn.Linear(temb, temb)])
        self.conv_in = nn.Conv2d(3, ch, 3, padding=1)
        self.down, chans, c, r = nn.ModuleList(), [ch], ch, res
        for i, m in enumerate(mult):
            level = nn.ModuleList()
            for _ in range(blocks):
                level.append(ResBlock(c, ch * m, temb, groups, dropout))
                c = ch * m
                if r in attn:
                    level.append(SpatialSelfAttention(c, groups))
                chans.append(c)
            if i != len(mult) - 1:
                level.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                chans.append(c)
                r //= 2
            self.down.append(level)
        self.mid = nn.ModuleList([ResBlock(c, c, temb, groups, dropout), SpatialSelfAttention(c, groups),
                                  ResBlock(c, c, temb, groups, dropout)])
        self.up = nn.ModuleList()
        for i, m in reversed(list(enumerate(mult))):
            level = nn.ModuleList()
            for _ in range(blocks + 1):
                level.append(ResBlock(c + chans.pop(), ch * m, temb, groups, dropout))
                c = ch * m
                if r in attn:
                    level.append(SpatialSelfAttention(c, groups))
            if i != 0:
                level.append(nn.Conv2d(c, c, 3, padding=1))  # after a nearest 2x upsample
                r *= 2
            self.up.append(level)
        self.norm_out = GroupNorm32(groups, c, eps=1e-6)
        self.conv_out = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, x, t):
        temb = self.temb[1](F.silu(self.temb[0](timestep_embedding(t, self.ch))))
        hs = [self.conv_in(x)]
        for level in self.down:
            for layer in level:
                if isinstance(layer, ResBlock):
                    hs.append(layer(hs[-1], temb))
                elif isinstance(layer, SpatialSelfAttention):
                    hs[-1] = layer(hs[-1])
                else:
                    hs.append(layer(hs[-1]))
        h = self.mid[2](self.mid[1](self.mid[0](hs[-1], temb)), temb)
        for level in self.up:
            for layer in level:
                if isinstance(layer, ResBlock):
                    h = layer(torch.cat([h, hs.pop()], dim=1), temb)
                elif isinstance(layer, SpatialSelfAttention):
                    h = layer(h)
                else:
                    h = layer(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


# ---- the D3PM transformer (nn/transformer.hpp, nn/transformer_block.hpp) -------------------------
class Block(nn.Module):
    def __init__(self, c, heads, hidden):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = LayerNorm32(c), LayerNorm32(c)
        self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.fc1, self.fc2 = nn.Linear(c, hidden), nn.Linear(hidden, c)

    def forward(self, x):
        B, T, C = x.shape
        H, D = self.heads, C // self.heads
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, H, D).permute(2, 0, 3, 1, 4)
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D), dim=-1)
        h = x + self.proj((p @ v).permute(0, 2, 1, 3).reshape(B, T, C))
        return h + self.fc2(F.gelu(self.fc1(self.ln2(h))))


class Transformer(nn.Module):
    def __init__(self, states=28, seq=256, width=256, layers=6, heads=8, mlp=1024):
        super().__init__()
        self.width = width
        self.tok_emb = nn.Embedding(states, width)
        self.pos_emb = nn.Parameter(torch.zeros(seq, width))
        self.time = nn.ModuleList([nn.Linear(width, width), nn.Linear(width, width)])
        self.blocks = nn.ModuleList([Block(width, heads, mlp) for _ in range(layers)])
        self.ln_f = LayerNorm32(width)
        self.head = nn.Linear(width, states)

    def forward(self, x, t):
        temb = self.time[1](F.silu(self.time[0](timestep_embedding(t, self.width))))
        h = self.tok_emb(x) + self.pos_emb[: x.shape[1]] + temb[:, None, :]
        for b in self.blocks:
            h = b(h)
        return self.head(self.ln_f(h))


def openblas():
    """The libopenblas this process has loaded (through torch's BLAS), found in /proc/self/maps; None if none."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "openblas" in line.split()[-1]}
    if not paths:
        return None
    lib = ctypes.CDLL(sorted(paths)[0])
    lib.openblas_get_corename.restype = ctypes.c_char_p
    return lib


def cpu_model():
    with open("/proc/cpuinfo") as info:
        return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "unknown")


def configurations(unet, train, threads):
    """Every combination of the knobs that applies to the workload, the usual best guess first."""
    blas = sorted({1, threads})
    layouts = [False, True] if unet else [False]
    modes = [True, False] if not train else [False]
    for mkldnn, pool, last, inference in itertools.product([True, False], blas, layouts, modes):
        yield {"openblas_threads": pool, "mkldnn": mkldnn, "channels_last": last, "inference_mode": inference}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True,
                    choices=["unet-train", "unet-sample", "transformer-train", "transformer-sample"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--fixed", action="store_true", help="time only the first configuration")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: the forward pass (and the loss) under torch.autocast('cpu', dtype=torch.bfloat16)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    blas = openblas()
    unet, train = a.workload.startswith("unet"), a.workload.endswith("train")
    batch = a.batch or (64 if unet and not train else 32)

    def measure(config, warmup, steps, give_up_ms=math.inf):
        """Median and all step times of the workload under one configuration, from a fresh seed and network;
        (inf, [inf], params) when a warm-up step takes longer than give_up_ms (a configuration that cannot win)."""
        if blas is not None:
            blas.openblas_set_num_threads(config["openblas_threads"])
        torch.backends.mkldnn.enabled = config["mkldnn"]
        torch.manual_seed(1)
        fmt = torch.channels_last if config["channels_last"] else torch.contiguous_format
        if unet:
            net, expected = UNet().to(memory_format=fmt), 8952067
            x = torch.randn(batch, 3, 32, 32).to(memory_format=fmt)
            target = torch.randn(batch, 3, 32, 32).to(memory_format=fmt)
            t = torch.randint(0, 1000, (batch,))
            loss_fn, clip = (lambda: F.mse_loss(net(x, t), target)), 1.0
        else:
            net, expected = Transformer(), 4950556
            x, y = torch.randint(0, 28, (batch, 256)), torch.randint(0, 27, (batch, 256))
            t = torch.randint(0, 1000, (batch,))
            loss_fn, clip = (lambda: F.cross_entropy(net(x, t).reshape(-1, 28), y.reshape(-1))), 0.25
        params = sum(p.numel() for p in net.parameters())
        assert params == expected, f"the twin has {params} parameters, the engine {expected}"
        opt = torch.optim.Adam(net.parameters(), lr=2e-4)
        no_grad = torch.inference_mode if config["inference_mode"] else torch.no_grad
        autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.precision == "bf16" else contextlib.nullcontext

        def step():
            if train:
                opt.zero_grad(set_to_none=False)
                with autocast():
                    loss = loss_fn()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
                opt.step()
            else:
                with no_grad(), autocast():
                    net(x, t)

        net.train(train)
        for _ in range(warmup):
            start = time.perf_counter()
            step()
            if 1000 * (time.perf_counter() - start) > give_up_ms:
                return math.inf, [math.inf], params
        ms = []
        for _ in range(steps):
            start = time.perf_counter()
            step()
            ms.append(1000 * (time.perf_counter() - start))
        return sorted(ms)[len(ms) // 2], ms, params

    # Screening: one warm-up and two timed steps per configuration; then the fastest is timed in full. A
    # configuration whose warm-up step alone takes 4 times the best screened step so far is dropped there (in
    # bf16, torch's non-oneDNN convolutions take minutes a step).
    tried = []
    for config in configurations(unet, train, a.threads):
        if a.fixed:
            tried.append((0.0, [], config))
            break
        best = min((m for m, _, _ in tried), default=math.inf)
        screen, ms, params = measure(config, 1, 2, give_up_ms=4 * best)
        tried.append((min(ms), ms, config))
    config = min(tried, key=lambda m: m[0])[2]
    median, ms, params = measure(config, a.warmup, a.steps)
    items = batch if unet else batch * 256
    print(json.dumps({"workload": a.workload, "batch": batch, "threads": a.threads, "parameters": params,
                      "precision": a.precision,
                      "ms_per_step_median": median, "ms_per_step_best": min(ms), "ms_per_step": ms,
                      ("images" if unet else "tokens") + "_per_second": items / (median / 1000),
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "config": config, "tried": [dict(c, screen_ms=round(m, 1) if math.isfinite(m) else None) for m, _, c in tried],
                      "cpu": cpu_model(), "mkldnn_available": torch.backends.mkldnn.is_available(),
                      "openblas_core": blas.openblas_get_corename().decode() if blas is not None else None,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
