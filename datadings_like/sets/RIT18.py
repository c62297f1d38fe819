"""
Metadata of the RIT-18 dataset: very-high-resolution multispectral
images (six bands from 490 to 900 nm) taken from a drone over a lake shore,
with a pixel-wise ground truth of 18 object classes plus background.
A sample's ``"label_image"`` holds indices into :py:data:`CLASSES`.

See also:
    https://github.com/rmkemker/RIT-18
"""

__all__ = ('CLASSES', 'CROP_SIZE', 'NUM_INPUT_CHANNELS')

#: Spectral bands of the images (the mask, 7th band of the source, is separate).
NUM_INPUT_CHANNELS = 6
#: Height and width of the tiles of the val split.
CROP_SIZE = 384

#: Class names in label order.
CLASSES = [
    '0. Other Class/Image Border',
    '1. Road Markings',
    '2. Tree',
    '3. Building',
    '4. Vehicle (Car, Truck, or Bus)',
    '5. Person',
    '6. Lifeguard Chair',
    '7. Picnic Table',
    '8. Black Wood Panel',
    '9. White Wood Panel',
    '10. Orange Landing Pad',
    '11. Water Buoy',
    '12. Rocks',
    '13. Other Vegetation',
    '14. Grass',
    '15. Sand',
    '16. Water (Lake)',
    '17. Water (Pond)',
    '18. Asphalt (Parking Lot/Walkway)',
]
