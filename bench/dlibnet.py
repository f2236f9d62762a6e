# Copied unchanged (apart from these two lines) from the project's peer benchmark, /work/shared/bench/dlibnet.py;
# run by bench/descriptor with Debian's /usr/bin/python3 (python3-torch).
# PyTorch replica of dlib's face recognition ResNet (anet_type in dlib/examples/dnn_face_recognition_ex.cpp),
# 150x150 input, 29 conv layers, 128-D output. Affine/BN folded into conv bias (what an inference engine does).
import torch, torch.nn as nn, torch.nn.functional as F
def conv(cin, cout, k, s):  # dlib default padding: 0 if stride!=1 else k//2
    return nn.Conv2d(cin, cout, k, s, 0 if s != 1 else k // 2, bias=True)
class Block(nn.Module):
    def __init__(self, cin, cout, down):
        super().__init__(); self.down = down
        self.c1 = conv(cin, cout, 3, 2 if down else 1); self.c2 = conv(cout, cout, 3, 1); self.cout = cout
    def forward(self, x):
        y = self.c2(F.relu(self.c1(x)))
        if self.down:  # dlib add_prev: output = max shape, smaller operand zero-extended (origin-aligned)
            x = F.avg_pool2d(x, 2, 2)
            C, H, W = max(int(x.shape[1]), int(y.shape[1])), max(int(x.shape[2]), int(y.shape[2])), max(int(x.shape[3]), int(y.shape[3]))
            x = F.pad(x, (0, W - int(x.shape[3]), 0, H - int(x.shape[2]), 0, C - int(x.shape[1])))
            y = F.pad(y, (0, W - int(y.shape[3]), 0, H - int(y.shape[2]), 0, C - int(y.shape[1])))
        return F.relu(y + x)
class DlibNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = conv(3, 32, 7, 2)
        spec = [(32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True)]
        blocks, cin = [], 32
        for cout, n, down in spec:
            for i in range(n): blocks.append(Block(cin, cout, down and i == 0)); cin = cout
        self.blocks = nn.Sequential(*blocks); self.fc = nn.Linear(256, 128, bias=False)
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 3, 2)
        x = self.blocks(x)
        return self.fc(x.mean((2, 3)))
if __name__ == '__main__':
    m = DlibNet().eval(); x = torch.randn(1, 3, 150, 150)
    shapes = []
    def hook(mod, i, o): shapes.append((tuple(i[0].shape[1:]), tuple(o.shape[1:])))
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d): mod.register_forward_hook(hook)
    with torch.inference_mode(): print(m(x).shape)
    print(len(shapes), 'convs'); [print(s) for s in shapes]
