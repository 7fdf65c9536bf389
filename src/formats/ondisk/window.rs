//! The probed parts of a device, addressed by absolute device offset.

/// The first and last bytes of a device, as read for the probe. Callers may hand in anything (the
/// fuzzer does): a head or tail longer than the device is cut to the device size, and a range that
/// is not entirely inside one of the two is not available.
pub(crate) struct DeviceWindow<'a> {
    head: &'a [u8],
    tail: &'a [u8],
    tail_start: u64,
    size: u64,
}

impl<'a> DeviceWindow<'a> {
    pub(crate) fn new(head: &'a [u8], tail: &'a [u8], size: u64) -> Self {
        let head = head.get(..clamp_len(head.len(), size)).unwrap_or_default();
        let tail_len = clamp_len(tail.len(), size);
        let tail = tail
            .get(tail.len().saturating_sub(tail_len)..)
            .unwrap_or_default();
        let tail_start = size.saturating_sub(tail.len() as u64);
        DeviceWindow {
            head,
            tail,
            tail_start,
            size,
        }
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// `len` bytes at device offset `offset`, if they were probed.
    pub(crate) fn bytes(&self, offset: u64, len: usize) -> Option<&'a [u8]> {
        let end = offset.checked_add(len as u64)?;
        if end <= self.head.len() as u64 {
            let start = usize::try_from(offset).ok()?;
            return self.head.get(start..start.checked_add(len)?);
        }
        if offset >= self.tail_start && end <= self.size {
            let start = usize::try_from(offset - self.tail_start).ok()?;
            return self.tail.get(start..start.checked_add(len)?);
        }
        None
    }

    /// All probed bytes from `offset` up to `len` bytes, cut short where the probed region ends.
    /// For structures whose length is only known after parsing their start.
    pub(crate) fn bytes_up_to(&self, offset: u64, len: usize) -> Option<&'a [u8]> {
        if let Some(whole) = self.bytes(offset, len) {
            return Some(whole);
        }
        let (region, region_start) = if offset < self.head.len() as u64 {
            (self.head, 0)
        } else if offset >= self.tail_start && offset < self.size {
            (self.tail, self.tail_start)
        } else {
            return None;
        };
        let start = usize::try_from(offset - region_start).ok()?;
        region.get(start..)
    }
}

fn clamp_len(len: usize, size: u64) -> usize {
    usize::try_from(size).map_or(len, |size| len.min(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_from_head_and_tail_by_device_offset() {
        let head = [1u8; 16];
        let tail = [2u8; 16];
        let device = DeviceWindow::new(&head, &tail, 1000);
        assert_eq!(device.bytes(0, 16), Some(&head[..]));
        assert_eq!(device.bytes(984, 16), Some(&tail[..]));
        assert_eq!(device.bytes(990, 4), Some(&[2u8; 4][..]));
        assert_eq!(device.bytes(10, 10), None, "straddles the end of head");
        assert_eq!(device.bytes(980, 10), None, "starts before tail");
        assert_eq!(device.bytes(995, 10), None, "runs past the device end");
        assert_eq!(device.bytes(u64::MAX - 2, 10), None);
    }

    #[test]
    fn small_device_head_and_tail_are_the_same_bytes() {
        let bytes: Vec<u8> = (0..=99).collect();
        let device = DeviceWindow::new(&bytes, &bytes, 100);
        assert_eq!(device.bytes(96, 4), Some(&bytes[96..]));
        assert_eq!(device.bytes(0, 100), Some(&bytes[..]));
    }

    #[test]
    fn inconsistent_lengths_are_cut_to_the_device() {
        let bytes = [7u8; 64];
        let device = DeviceWindow::new(&bytes, &bytes, 10);
        assert_eq!(device.bytes(0, 10), Some(&bytes[..10]));
        assert_eq!(device.bytes(0, 11), None);
    }

    #[test]
    fn partial_reads_stop_at_the_region_end() {
        let head = [1u8; 16];
        let device = DeviceWindow::new(&head, &[], 1000);
        assert_eq!(device.bytes_up_to(8, 100).map(<[u8]>::len), Some(8));
        assert_eq!(device.bytes_up_to(16, 1), None);
    }
}
