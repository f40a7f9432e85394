"""CycleGAN's history of generated images, which D trains on instead of only the latest fakes (Shrivastava et al. 2017).

Behaviour from junyanz/pytorch-CycleGAN-and-pix2pix ``util/image_pool.py``: until the pool holds
``size`` images, each new image is stored and returned; afterwards each new image, with
probability 0.5, is swapped for a random stored one (which is returned), else returned itself.
Size 0 passes batches through. Unlike the original (Python's global ``random``), the choices
come from the pool's own seeded ``torch.Generator``, and ``state_dict()`` holds the stored images
and that generator's state, so a resumed run makes the same choices as an uninterrupted one.
"""

from __future__ import annotations

import torch

from cimgen.errors import CimgenError


class ImagePool:
    """A buffer of up to ``size`` generated images.

    Args:
        size: images kept (junyanz's pool_size, 50 for CycleGAN); 0 turns the pool off.
        seed: seed of the pool's random choices.
    """

    def __init__(self, size: int = 50, *, seed: int = 0):
        if size < 0:
            raise CimgenError(f"the image pool size must be 0 or more, got {size}")
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch of the same shape, each image either the new one or one from the pool.

        Args:
            images: N x C x H x W generated images (stored detached).

        Returns:
            A detached N x C x H x W batch (``images`` itself when the size is 0).
        """
        if self.size == 0:
            return images
        images = images.detach()
        out = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
                continue
            # One uniform draw per image, as the original; the slot is drawn only when it is used.
            if torch.rand((), generator=self.generator).item() > 0.5:
                slot = int(torch.randint(self.size, (), generator=self.generator))
                old = self.images[slot].to(device=image.device, dtype=image.dtype)
                self.images[slot] = image
                out.append(old)
            else:
                out.append(image)
        return torch.stack(out, 0)

    def state_dict(self) -> dict:
        """Stored images (on the CPU) and the random state, in a form ``torch.load(weights_only=True)`` reads."""
        return {
            "size": self.size,
            "images": [t.detach().cpu() for t in self.images],
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved; the images move to the queries' device on first use."""
        if int(state["size"]) != self.size:
            raise CimgenError(f"the saved image pool holds up to {state['size']} images but this pool is for {self.size}")
        self.images = list(state["images"])
        self.generator.set_state(state["generator"])
