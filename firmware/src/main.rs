#![no_std]
#![no_main]

use crabmix_firmware::{BOARD, exit};

#[cortex_m_rt::entry]
fn main() -> ! {
    defmt::info!("crabmix firmware on {=str}", BOARD);
    exit(true)
}
