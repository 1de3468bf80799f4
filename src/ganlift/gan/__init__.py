"""``ganlift.gan``: train a small StyleGAN2, to make teachers with a learned latent space.

See :mod:`ganlift.gan.trainer` for the objective and :mod:`ganlift.gan.discriminator` for the
discriminator.
"""

from ganlift.gan.data import ImageFolder, ImageSource, TeacherRenders, image_source
from ganlift.gan.discriminator import Discriminator
from ganlift.gan.trainer import GanSettings, GanTrainer, train_gan

__all__ = ["Discriminator", "GanSettings", "GanTrainer", "train_gan", "ImageFolder", "ImageSource",
           "TeacherRenders", "image_source"]
