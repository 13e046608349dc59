//! paraphrase-MiniLM-L3-v2 end to end, privately (opt-in: the model is a 69 MB download).
//! Set `UMBRA_MINILM_MODEL` to the path `scripts/fetch_minilm.sh` prints, and run in release
//! mode (`cargo test --release -p umbra-cli --test minilm`); without it the test says so and
//! checks nothing.

use apps::demo::minilm;

#[test]
fn private_minilm_embeddings_match_f64_and_later_queries_reuse_the_weight_masks() {
    let Some(path) = std::env::var_os("UMBRA_MINILM_MODEL") else {
        eprintln!("UMBRA_MINILM_MODEL is not set: MiniLM not run (see scripts/fetch_minilm.sh)");
        return;
    };
    let r = minilm::run(std::path::Path::new(&path), 2).unwrap();
    assert_eq!(r.queries.len(), minilm::SENTENCES.len());
    for q in &r.queries {
        let c = minilm::cosine(&q.private, &q.plaintext);
        assert!(c >= 0.999, "\"{}\": cosine {c}", q.text);
        assert_eq!(q.private.len(), 384);
    }
    // The embedding table alone is 30522 x 384 words, opened at the first query only.
    let table = 8 * 30522 * 384;
    for q in &r.queries[1..] {
        assert!(
            q.bytes_sent + table <= r.queries[0].bytes_sent,
            "{} then {}",
            r.queries[0].bytes_sent,
            q.bytes_sent
        );
        assert_eq!(q.rounds, r.queries[0].rounds);
    }
    // Sentence similarity is kept: the reordered sentence stays near the first.
    let sim = |i: usize, j: usize, private: bool| {
        let (a, b) = (&r.queries[i], &r.queries[j]);
        if private {
            minilm::cosine(&a.private, &b.private)
        } else {
            minilm::cosine(&a.plaintext, &b.plaintext)
        }
    };
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        assert!((sim(i, j, true) - sim(i, j, false)).abs() < 1e-3);
    }
    assert!(sim(0, 1, true) > sim(0, 2, true));
}
