"""SinGAN: a pyramid of small GANs trained on one image (Shaham et al., ICCV 2019), its ConSinGAN-style
faster schedule (Hinz et al., WACV 2021), random samples, and reference-guided inpainting, editing and
harmonization by injecting an image at a chosen scale and blending the result into a mask."""
